// concat.wgsl — copies a block of channels between NCHW tensors: concatenation along channels
// (SqueezeNet fire modules) is two copies into the output; its backward is two copies out of it.
//
// Shapes:  src [N, CS, HW],  dst [N, CD, HW]
//          dst[(n*CD + d0 + c)*HW + s] = src[(n*CS + s0 + c)*HW + s]   for c < CN
// N is the batch, or a chunk of its images when a tensor is over the storage-binding limit.
// One thread per copied element; 1-D grid split over x/y (WG threads a workgroup).

struct Params { N: u32, HW: u32, CS: u32, s0: u32, CD: u32, d0: u32, CN: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

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
