// pack.wgsl — lays a strided 2-D view of a tensor out as a dense, zero-padded row-major matrix,
// the operand layout `matmul` wants (transposes, NCHW <-> [C, N*H*W] views, K padded to 4).
//
// Shapes:  src  any buffer; element (r, k) of the view is read at
//               base + (r / gr)*sgr + (r % gr)*sr + (k / gk)*sgk + (k % gk)*sk
//          dst  [R, KP]: dst[r*KP + k] = view(r, k) for k < K, 0 for K <= k < KP
// One thread per dst element; 1-D grid split over x/y (WG threads a workgroup).

struct Params {
    r: u32, k: u32, kp: u32, base: u32,
    gr: u32, sgr: u32, sr: u32,
    gk: u32, sgk: u32, sk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.r * p.kp) {
        return;
    }
    let r = i / p.kp;
    let k = i % p.kp;
    var v = 0.0;
    if (k < p.k) {
        v = src[p.base + (r / p.gr) * p.sgr + (r % p.gr) * p.sr + (k / p.gk) * p.sgk + (k % p.gk) * p.sk];
    }
    dst[i] = v;
}
