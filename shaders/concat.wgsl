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

struct Params { N: u32, HW: u32, CS: u32, s0: u32, CD: u32, d0: u32, CN: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> src_b: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst_b: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.N * p.CN * p.HW) {
        return;
    }
    let n = i / (p.CN * p.HW);
    let c = (i / p.HW) % p.CN;
    let s = i % p.HW;
    dst[(n * p.CD + p.d0 + c) * p.HW + s] = src[(n * p.CS + p.s0 + c) * p.HW + s];
}

@compute @workgroup_size(WG)
fn join2(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.N * p.CD * p.HW) {
        return;
    }
    let n = i / (p.CD * p.HW);
    let c = (i / p.HW) % p.CD;
    let s = i % p.HW;
    if (c < p.CN) {
        dst[i] = src[(n * p.CN + c) * p.HW + s];
    } else {
        dst[i] = src_b[(n * (p.CD - p.CN) + c - p.CN) * p.HW + s];
    }
}

@compute @workgroup_size(WG)
fn split2(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.N * p.CS * p.HW) {
        return;
    }
    let n = i / (p.CS * p.HW);
    let c = (i / p.HW) % p.CS;
    let s = i % p.HW;
    if (c < p.CN) {
        dst[(n * p.CN + c) * p.HW + s] = src[i];
    } else {
        dst_b[(n * (p.CS - p.CN) + c - p.CN) * p.HW + s] = src[i];
    }
}
