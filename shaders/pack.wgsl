// pack.wgsl — lays a strided 2-D view of a tensor out as a dense, zero-padded row-major matrix,
// the operand layout `matmul` wants (transposes, NCHW <-> [C, N*H*W] views, K padded to 4).
//
// Shapes:  src  any buffer; element (r, k) of the view is read at
//               base + (r / gr)*sgr + (r % gr)*sr + (k / gk)*sgk + (k % gk)*sk
//          dst  [R, KP]: dst[r*KP + k] = view(r, k) for k < K, 0 for K <= k < KP
//               (KP a multiple of 4: dst is written as vec4s, four neighbours in a row)
// One thread per vec4 of dst: on CPU drivers a store costs a loop over the SIMD lanes whatever
// its width, and each integer division is scalarised, so a thread decomposes its row once and
// steps its four columns without dividing. 1-D grid split over x/y (WG threads a workgroup).

struct Params {
    r: u32, k: u32, kp: u32, base: u32,
    gr: u32, sgr: u32, sr: u32,
    gk: u32, sgk: u32, sk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let kp4 = p.kp / 4u;
    if (i >= p.r * kp4) {
        return;
    }
    let r = udiv(i, kp4);
    let k0 = (i - r * kp4) * 4u;
    let rq = udiv(r, p.gr);
    let row = p.base + rq * p.sgr + (r - rq * p.gr) * p.sr;
    var kq = udiv(k0, p.gk);
    var km = k0 - kq * p.gk;
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (k0 + e < p.k) {
            v[e] = src[row + kq * p.sgk + km * p.sk];
        }
        km++;
        if (km == p.gk) {
            km = 0u;
            kq++;
        }
    }
    dst[i] = v;
}
