// conv2d_direct.wgsl — convolution forward, input gradient and weight gradient that read the
// image directly (implicit GEMM: no unfolded im2col matrix in memory). Each thread owns one
// pixel (or one weight tap) and a block of CB channels; neighbouring threads own neighbouring
// pixels, so their image loads are contiguous, and the channel block's weights (or output
// gradients) are the same vec4s for every thread of the workgroup. Stride and padding are the
// same along both axes; no dilation, no groups. Sums run in a fixed order (deterministic).
//
// Shapes (this dispatch covers images n0 .. n0+nc of bound views):
//   x   [*, C, H, W]            dy  [*, CO, OH, OW]
//   forward:      y[n, co, oh, ow] = sum_{c,kh,kw} x[n, c, oh*s+kh-pad, ow*s+kw-pad] * w[co, c, kh, kw] + bias[co]
//                 (then max(·, 0) when relu != 0: a convolution and its ReLU in one pass)
//                 blk = wt [K, CB4*4]  (K = C*KH*KW rows k = (c*KH+kh)*KW+kw; columns co, zero-padded)
//                 threads: P = nc*OH*OW pixels (x) times ceil(CO/CB) channel blocks (y)
//   grad_input:   dx[n, c, ih, iw] = sum_{co,kh,kw: oh*s+kh-pad = ih, ow*s+kw-pad = iw} dy[n, co, oh, ow] * w[co, c, kh, kw]
//                 blk = wr [CO*KH*KW, CB4*4]  (rows (co*KH+kh)*KW+kw, columns c, zero-padded)
//                 threads: P = nc*H*W pixels times ceil(C/CB) channel blocks
//   grad_weight:  dw[co, k] (+)= sum_{n,oh,ow} dy[n, co, oh, ow] * x[n, c, oh*s+kh-pad, ow*s+kw-pad]
//                 blk = dyT [nc*OH*OW, CB4*4]  (rows p = (n*OH+oh)*OW+ow of this dispatch, columns co)
//                 threads: P = K taps times ceil(CO/CB) channel blocks
// Grid: x = ceil(P/TW), y = channel blocks; workgroup TW.

struct Params {
    c: u32, h: u32, w: u32, kh: u32, kw: u32, stride: u32, pad: u32, oh: u32, ow: u32,
    co: u32, n0: u32, nc: u32, p: u32, cb4: u32, bias_mode: u32, accumulate: u32, relu: u32,
}

// Channels a thread owns (a multiple of 4; set per pipeline) and threads a workgroup.
const CB: u32 = 16u;
// Output pixels (along a row) a thread of `forward` owns.
const PB: u32 = 4u;
const TW: u32 = 64u;
const Q: u32 = CB / 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> blk: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

// src[at] if `ok`, else 0 (the index is not formed when out of range).
fn load_if(ok: bool, at: u32) -> f32 {
    return select(0.0, src[select(0u, at, ok)], ok);
}

@compute @workgroup_size(TW)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    let pi = wid.x * TW + l;
    if (pi >= p.p) {
        return;
    }
    // thread pi owns pixels ow0 .. ow0+PB-1 of output row oh of image img
    let owb = (p.ow + PB - 1u) / PB;
    let rows = pi / owb;
    let ow0 = (pi - rows * owb) * PB;
    let img = rows / p.oh;
    let oh = rows - img * p.oh;
    let ih0 = i32(oh * p.stride) - i32(p.pad);
    let iw0 = i32(ow0 * p.stride) - i32(p.pad);
    let hw = p.h * p.w;
    var xc = (p.n0 + img) * p.c * hw;
    var row = wid.y * Q;
    var acc: array<array<vec4<f32>, Q>, PB>;
    for (var c = 0u; c < p.c; c++) {
        for (var kh = 0u; kh < p.kh; kh++) {
            let ih = ih0 + i32(kh);
            if (ih < 0 || ih >= i32(p.h)) {
                row += p.kw * p.cb4;
                continue;
            }
            let xr = i32(xc + u32(ih) * p.w) + iw0;
            for (var kw = 0u; kw < p.kw; kw++) {
                var v: array<f32, PB>;
                for (var j = 0u; j < PB; j++) {
                    let iw = iw0 + i32(kw + j * p.stride);
                    v[j] = load_if(iw >= 0 && iw < i32(p.w), u32(xr + i32(kw + j * p.stride)));
                }
                for (var q = 0u; q < Q; q++) {
                    let wq = blk[row + q];
                    for (var j = 0u; j < PB; j++) {
                        acc[j][q] += v[j] * wq;
                    }
                }
                row += p.cb4;
            }
        }
        xc += hw;
    }
    let ohw = p.oh * p.ow;
    for (var j = 0u; j < PB && ow0 + j < p.ow; j++) {
        let base = (p.n0 + img) * p.co * ohw + oh * p.ow + ow0 + j;
        for (var q = 0u; q < Q; q++) {
            for (var i = 0u; i < 4u; i++) {
                let co = wid.y * CB + 4u * q + i;
                if (co < p.co) {
                    var v = acc[j][q][i];
                    if (p.bias_mode == 1u) {
                        v += bias[co];
                    }
                    if (p.relu != 0u) {
                        v = max(v, 0.0);
                    }
                    dst[base + co * ohw] = v;
                }
            }
        }
    }
}

@compute @workgroup_size(TW)
fn grad_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    let pi = wid.x * TW + l;
    if (pi >= p.p) {
        return;
    }
    let hw = p.h * p.w;
    let img = pi / hw;
    let at = pi - img * hw;
    let ih = at / p.w;
    let iw = at - ih * p.w;
    // taps kh = a % s, a % s + s, ... (while kh <= a) reach output rows th = (a - kh) / s,
    // which fall by one per tap
    let a = ih + p.pad;
    let b = iw + p.pad;
    let kh0 = a % p.stride;
    let kw0 = b % p.stride;
    let ohw = p.oh * p.ow;
    var acc: array<vec4<f32>, Q>;
    for (var co = 0u; co < p.co; co++) {
        let dyc = ((p.n0 + img) * p.co + co) * ohw;
        var th = (a - kh0) / p.stride;
        for (var kh = kh0; kh < p.kh && kh <= a; kh += p.stride) {
            if (th < p.oh) {
                var tw = (b - kw0) / p.stride;
                for (var kw = kw0; kw < p.kw && kw <= b; kw += p.stride) {
                    if (tw < p.ow) {
                        let v = src[dyc + th * p.ow + tw];
                        let row = ((co * p.kh + kh) * p.kw + kw) * p.cb4 + wid.y * Q;
                        for (var q = 0u; q < Q; q++) {
                            acc[q] += v * blk[row + q];
                        }
                    }
                    tw -= 1u;
                }
            }
            th -= 1u;
        }
    }
    let base = (p.n0 + img) * p.c * hw + at;
    for (var q = 0u; q < Q; q++) {
        for (var j = 0u; j < 4u; j++) {
            let c = wid.y * CB + 4u * q + j;
            if (c < p.c) {
                dst[base + c * hw] = acc[q][j];
            }
        }
    }
}

@compute @workgroup_size(TW)
fn grad_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    let k = wid.x * TW + l;
    if (k >= p.p) {
        return;
    }
    let khw = p.kh * p.kw;
    let c = k / khw;
    let t = k - c * khw;
    let kh = t / p.kw;
    let kw = t - kh * p.kw;
    let hw = p.h * p.w;
    var prow = wid.y * Q;
    var acc: array<vec4<f32>, Q>;
    for (var img = 0u; img < p.nc; img++) {
        let xc = ((p.n0 + img) * p.c + c) * hw;
        for (var oh = 0u; oh < p.oh; oh++) {
            let ih = i32(oh * p.stride + kh) - i32(p.pad);
            if (ih < 0 || ih >= i32(p.h)) {
                prow += p.ow * p.cb4;
                continue;
            }
            let xr = xc + u32(ih) * p.w;
            for (var ow = 0u; ow < p.ow; ow++) {
                let iw = i32(ow * p.stride + kw) - i32(p.pad);
                let v = load_if(iw >= 0 && iw < i32(p.w), xr + u32(iw));
                for (var q = 0u; q < Q; q++) {
                    acc[q] += v * blk[prow + q];
                }
                prow += p.cb4;
            }
        }
    }
    let kk = p.c * khw;
    for (var q = 0u; q < Q; q++) {
        for (var j = 0u; j < 4u; j++) {
            let co = wid.y * CB + 4u * q + j;
            if (co < p.co) {
                var v = acc[q][j];
                if (p.accumulate != 0u) {
                    v += dst[co * kk + k];
                }
                dst[co * kk + k] = v;
            }
        }
    }
}
