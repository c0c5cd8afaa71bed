// im2col.wgsl — unfolds the receptive fields of a chunk of images into a matrix, so that a
// convolution becomes one `matmul` (forward and weight gradient). Out-of-image taps (padding)
// read as 0. Stride and padding are the same along both axes; no dilation, no groups.
//
// Shapes:  x    [N, C, H, W]  (the chunk starts at image n0 and holds nc images)
//          col  transposed == 0:  [P, KP]  col[p*KP + k]   (P = nc*OH*OW, K = C*KH*KW, KP >= K)
//               transposed == 1:  [K, PP]  col[k*PP + p]   (PP >= P)
//          with p = (i*OH + oh)*OW + ow and k = (c*KH + kh)*KW + kw; the padding columns are 0.
// One thread per col element; 1-D grid split over x/y (256 threads a workgroup).

struct Params {
    C: u32, H: u32, W: u32, KH: u32, KW: u32, stride: u32, pad: u32,
    OH: u32, OW: u32, n0: u32, P: u32, K: u32, KP: u32, PP: u32, transposed: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> col: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    var pi: u32;
    var k: u32;
    if (p.transposed == 0u) {
        if (i >= p.P * p.KP) {
            return;
        }
        pi = i / p.KP;
        k = i % p.KP;
    } else {
        if (i >= p.K * p.PP) {
            return;
        }
        k = i / p.PP;
        pi = i % p.PP;
    }
    var v = 0.0;
    if (k < p.K && pi < p.P) {
        let ohw = p.OH * p.OW;
        let img = p.n0 + pi / ohw;
        let oh = (pi % ohw) / p.OW;
        let ow = pi % p.OW;
        let c = k / (p.KH * p.KW);
        let kh = (k / p.KW) % p.KH;
        let kw = k % p.KW;
        let ih = i32(oh * p.stride + kh) - i32(p.pad);
        let iw = i32(ow * p.stride + kw) - i32(p.pad);
        if (ih >= 0 && iw >= 0 && ih < i32(p.H) && iw < i32(p.W)) {
            v = x[((img * p.C + c) * p.H + u32(ih)) * p.W + u32(iw)];
        }
    }
    col[i] = v;
}
