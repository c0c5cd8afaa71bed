// im2col.wgsl — unfolds the receptive fields of a chunk of images into a matrix, so that a
// convolution becomes one `matmul` (forward and weight gradient). Out-of-image taps (padding)
// read as 0. Stride and padding are the same along both axes; no dilation, no groups.
//
// Shapes:  x    [N, C, H, W]  (the chunk starts at image n0 and holds nc images)
//          col  transposed == 0:  [P, KP]  col[p*KP + k]   (P = nc*OH*OW, K = C*KH*KW, KP >= K)
//               transposed == 1:  [K, PP]  col[k*PP + p]   (PP >= P)
//          with p = (i*OH + oh)*OW + ow and k = (c*KH + kh)*KW + kw; the padding columns are 0.
//          KP (PP) is a multiple of 4: col is written as vec4s, four neighbours in a row.
// One thread per vec4 of col: on CPU drivers a store costs a loop over the SIMD lanes whatever
// its width, so one vec4 store instead of four halves the pass; the thread decomposes its row
// once and steps its four taps (or pixels) without dividing. 1-D grid split over x/y (WG
// threads a workgroup).

struct Params {
    c: u32, h: u32, w: u32, kh: u32, kw: u32, stride: u32, pad: u32,
    oh: u32, ow: u32, n0: u32, p: u32, k: u32, kp: u32, pp: u32, transposed: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> col: array<vec4<f32>>;

// x at tap (kh, kw) of channel c of the field of output pixel (oh, ow) of image img; 0 in the padding.
fn tap(img: u32, oh: u32, ow: u32, c: u32, kh: u32, kw: u32) -> f32 {
    let ih = i32(oh * p.stride + kh) - i32(p.pad);
    let iw = i32(ow * p.stride + kw) - i32(p.pad);
    if (ih >= 0 && iw >= 0 && ih < i32(p.h) && iw < i32(p.w)) {
        return x[((img * p.c + c) * p.h + u32(ih)) * p.w + u32(iw)];
    }
    return 0.0;
}

// (x, y, z) + 1 in the mixed radix (n0, n1, unbounded): x counts to n0, then carries into y,
// which carries into z at n1.
fn carry(t: vec3<u32>, n0: u32, n1: u32) -> vec3<u32> {
    var r = vec3<u32>(t.x + 1u, t.y, t.z);
    if (r.x == n0) {
        r.x = 0u;
        r.y++;
        if (r.y == n1) {
            r.y = 0u;
            r.z++;
        }
    }
    return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let width4 = select(p.kp, p.pp, p.transposed != 0u) / 4u;
    let rows = select(p.p, p.k, p.transposed != 0u);
    if (i >= rows * width4) {
        return;
    }
    let row = udiv(i, width4);
    let first = (i - row * width4) * 4u;
    // the row's pixel (or tap) and the first of the four taps (or pixels) this thread writes
    let pi = select(row, first, p.transposed != 0u);
    let k = select(first, row, p.transposed != 0u);
    let ohw = p.oh * p.ow;
    let local = udiv(pi, ohw);
    let at = pi - local * ohw;
    let oh = udiv(at, p.ow);
    // (ow, oh, image) of the pixel and (kw, kh, channel) of the tap; along the row one of them
    // steps, the taps in the unfolded layout, the pixels in the transposed one
    var px = vec3<u32>(at - oh * p.ow, oh, p.n0 + local);
    let khw = p.kh * p.kw;
    let c = udiv(k, khw);
    let t = k - c * khw;
    let kh = udiv(t, p.kw);
    var tp = vec3<u32>(t - kh * p.kw, kh, c);
    // the four columns lie in the matrix while the row does and they are below its width
    let cols = select(p.k, p.p, p.transposed != 0u);
    let row_in = select(pi < p.p, k < p.k, p.transposed != 0u);
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (row_in && first + e < cols) {
            v[e] = tap(px.z, px.y, px.x, tp.z, tp.y, tp.x);
        }
        if (p.transposed == 0u) {
            tp = carry(tp, p.kw, p.kh);
        } else {
            px = carry(px, p.ow, p.oh);
        }
    }
    col[i] = v;
}
