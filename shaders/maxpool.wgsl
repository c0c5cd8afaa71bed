// maxpool.wgsl — 2-D max pooling (the teacher's pooling) with the arg-max kept for backward.
// Padding taps count as -inf; the first maximum in scan order wins (as in PyTorch).
//
// Shapes:  forward:  x [N, C, H, W] -> y [N, C, OH, OW], idx [N, C, OH, OW] (u32, ih*W + iw)
//          backward: dy [N, C, OH, OW], idx -> dx [N, C, H, W]; each input gathers the dy of
//                    every window whose arg-max it is (no atomics).
// planes = N*C, or a chunk of them when a tensor is over the storage-binding limit.
// One thread per output (forward) / input (backward) element; 1-D grid split over x/y
// (WG threads a workgroup).

struct Params {
    planes: u32, h: u32, w: u32, oh: u32, ow: u32, kh: u32, kw: u32, stride: u32, pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> idx_in: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.planes * p.oh * p.ow) {
        return;
    }
    let q = udiv(i, p.ow);
    let plane = udiv(q, p.oh);
    let oh = q - plane * p.oh;
    let ow = i - q * p.ow;
    var best = -3.4028235e38;
    var arg = 0u;
    var found = false;
    for (var kh = 0u; kh < p.kh; kh++) {
        let ih = i32(oh * p.stride + kh) - i32(p.pad);
        if (ih < 0 || ih >= i32(p.h)) {
            continue;
        }
        for (var kw = 0u; kw < p.kw; kw++) {
            let iw = i32(ow * p.stride + kw) - i32(p.pad);
            if (iw < 0 || iw >= i32(p.w)) {
                continue;
            }
            let at = u32(ih) * p.w + u32(iw);
            let v = x[plane * p.h * p.w + at];
            if (!found || v > best) {
                best = v;
                arg = at;
                found = true;
            }
        }
    }
    y[i] = best;
    idx[i] = arg;
}

// Output cells [lo, hi) along an axis whose windows contain input position i.
fn cells(i: u32, on: u32, k: u32) -> vec2<u32> {
    let t = i + p.pad;
    var lo = 0u;
    if (t >= k) {
        lo = udiv(t - k, p.stride) + 1u;
    }
    return vec2<u32>(lo, min(udiv(t, p.stride) + 1u, on));
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.planes * p.h * p.w) {
        return;
    }
    let q = udiv(i, p.w);
    let plane = udiv(q, p.h);
    let ih = q - plane * p.h;
    let iw = i - q * p.w;
    let at = ih * p.w + iw;
    var s = 0.0;
    let rh = cells(ih, p.oh, p.kh);
    let rw = cells(iw, p.ow, p.kw);
    for (var oh = rh.x; oh < rh.y; oh++) {
        for (var ow = rw.x; ow < rw.y; ow++) {
            let o = (plane * p.oh + oh) * p.ow + ow;
            if (idx_in[o] == at) {
                s += dy[o];
            }
        }
    }
    dx[i] = s;
}
