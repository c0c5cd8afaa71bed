// col2im.wgsl — folds the gradient of an unfolded matrix back onto the image (the adjoint of
// im2col): each input pixel gathers, in a fixed order, every (output position, tap) that read
// it. A gather, not a scatter: no atomics, deterministic.
//
// Shapes:  dcol [P, K]  (P = nc*OH*OW for the chunk starting at image n0, K = C*KH*KW)
//          dx   [N, C, H, W]; this dispatch writes images n0 .. n0+nc
// One thread per dx element of the chunk; 1-D grid split over x/y (WG threads a workgroup).

struct Params {
    c: u32, h: u32, w: u32, kh: u32, kw: u32, stride: u32, pad: u32,
    oh: u32, ow: u32, n0: u32, nc: u32, k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dcol: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let chw = p.c * p.h * p.w;
    if (i >= p.nc * chw) {
        return;
    }
    let q = udiv(i, p.w);
    let iw = i - q * p.w;
    let r = udiv(q, p.h);
    let ih = q - r * p.h;
    let ni = udiv(r, p.c);
    let c = r - ni * p.c;
    var s = 0.0;
    for (var kh = 0u; kh < p.kh; kh++) {
        let th = i32(ih + p.pad) - i32(kh);
        let oh = udiv(u32(max(th, 0)), p.stride);
        if (th < 0 || oh * p.stride != u32(th)) {
            continue;
        }
        if (oh >= p.oh) {
            continue;
        }
        for (var kw = 0u; kw < p.kw; kw++) {
            let tw = i32(iw + p.pad) - i32(kw);
            let ow = udiv(u32(max(tw, 0)), p.stride);
            if (tw < 0 || ow * p.stride != u32(tw)) {
                continue;
            }
            if (ow >= p.ow) {
                continue;
            }
            let row = (ni * p.oh + oh) * p.ow + ow;
            s += dcol[row * p.k + (c * p.kh + kh) * p.kw + kw];
        }
    }
    dx[(p.n0 * chw) + i] = s;
}
