// concat.wgsl — concatenation along channels of NCHW tensors (SqueezeNet fire modules) and its
// backward split. Two parts (a fire module's) take one pass each way; more take one copy each.
//
// main:    src [N, CS, HW] -> dst [N, CD, HW]: a block of channels copied,
//          dst[(n*CD + d0 + c)*HW + s] = src[(n*CS + s0 + c)*HW + s]   for c < CN
// join2:   src [N, CN, HW] and src_b [N, CD-CN, HW] -> dst [N, CD, HW] (channels of src first)
// split2:  src [N, CS, HW] -> dst [N, CN, HW] and dst_b [N, CS-CN, HW]
// N is the batch, or a chunk of its images when a tensor is over the storage-binding limit.
// One thread per copied element (of dst in main and join2, of src in split2); 1-D grid split
// over x/y (WG threads a workgroup).

struct Params { n: u32, hw: u32, cs: u32, s0: u32, cd: u32, d0: u32, cn: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> src_b: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst_b: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n * p.cn * p.hw) {
        return;
    }
    let q = udiv(i, p.hw);
    let n = udiv(q, p.cn);
    let c = q - n * p.cn;
    let s = i - q * p.hw;
    dst[(n * p.cd + p.d0 + c) * p.hw + s] = src[(n * p.cs + p.s0 + c) * p.hw + s];
}

@compute @workgroup_size(WG)
fn join2(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n * p.cd * p.hw) {
        return;
    }
    let q = udiv(i, p.hw);
    let n = udiv(q, p.cd);
    let c = q - n * p.cd;
    let s = i - q * p.hw;
    if (c < p.cn) {
        dst[i] = src[(n * p.cn + c) * p.hw + s];
    } else {
        dst[i] = src_b[(n * (p.cd - p.cn) + c - p.cn) * p.hw + s];
    }
}

@compute @workgroup_size(WG)
fn split2(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n * p.cs * p.hw) {
        return;
    }
    let q = udiv(i, p.hw);
    let n = udiv(q, p.cs);
    let c = q - n * p.cs;
    let s = i - q * p.hw;
    if (c < p.cn) {
        dst[(n * p.cn + c) * p.hw + s] = src[i];
    } else {
        dst_b[(n * (p.cs - p.cn) + c - p.cn) * p.hw + s] = src[i];
    }
}
