// avgpool.wgsl — average pooling, the student's (and CKKS's) pooling: fixed windows
// (padding taps count as zeros, PyTorch's count_include_pad=True: the divisor is the window
// clipped to the padded input, KH*KW except for the extra windows of ceil mode)
// and adaptive windows (output cell o covers [floor(o*H/OH), ceil((o+1)*H/OH)); OH=OW=1 is
// global average pooling).
//
// Shapes:  forward:  x [N, C, H, W] -> y [N, C, OH, OW]
//          backward: dy [N, C, OH, OW] -> dx [N, C, H, W]; each input gathers from the windows
//                    that contain it (no atomics).
// ADAPTIVE != 0 selects adaptive windows (KH, KW, stride, pad ignored); it is a constant set
// per pipeline, not a parameter, so the window arithmetic of the other kind is compiled out
// (llvmpipe evaluated the adaptive branch's integer divisions even when it was not taken).
// planes = N*C, or a chunk of them when a tensor is over the storage-binding limit.
// One thread per output element (forward) / input row (backward); 1-D grid split over x/y.

struct Params {
    planes: u32, h: u32, w: u32, oh: u32, ow: u32, kh: u32, kw: u32, stride: u32, pad: u32,
}

const ADAPTIVE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// Window [lo, hi) of output cell o along an axis of input size n and output size on;
// for fixed windows lo may be negative (padding).
fn window(o: u32, n: u32, on: u32, k: u32) -> vec2<i32> {
    if (ADAPTIVE != 0u) {
        return vec2<i32>(i32((o * n) / on), i32(((o + 1u) * n + on - 1u) / on));
    }
    let lo = i32(o * p.stride) - i32(p.pad);
    return vec2<i32>(lo, lo + i32(k));
}

// Output rows [lo, hi) whose windows may contain input row ih.
fn row_cells(ih: i32) -> vec2<u32> {
    if (ADAPTIVE != 0u) {
        return vec2<u32>(0u, p.oh);
    }
    let t = ih + i32(p.pad);
    var lo = 0u;
    if (t >= i32(p.kh)) {
        lo = udiv(u32(t - i32(p.kh)), p.stride) + 1u;
    }
    let hi = min(udiv(u32(t), p.stride) + 1u, p.oh);
    return vec2<u32>(lo, hi);
}

fn divisor(wh: vec2<i32>, ww: vec2<i32>) -> f32 {
    if (ADAPTIVE != 0u) {
        return f32((wh.y - wh.x) * (ww.y - ww.x));
    }
    let hh = min(wh.y, i32(p.h + p.pad)) - wh.x;
    let hw = min(ww.y, i32(p.w + p.pad)) - ww.x;
    return f32(hh * hw);
}

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
    let wh = window(oh, p.h, p.oh, p.kh);
    let ww = window(ow, p.w, p.ow, p.kw);
    var s = 0.0;
    for (var ih = max(wh.x, 0); ih < min(wh.y, i32(p.h)); ih++) {
        for (var iw = max(ww.x, 0); iw < min(ww.y, i32(p.w)); iw++) {
            s += src[(plane * p.h + u32(ih)) * p.w + u32(iw)];
        }
    }
    dst[i] = s / divisor(wh, ww);
}

// One thread per input row (plane, ih): integer division is slow on CPU drivers (llvmpipe
// scalarises it), so the output columns whose windows cover iw are tracked as a sliding range
// [lo, hi) along the row instead of being recomputed per element. Windows start and end in
// non-decreasing order along an axis (fixed and adaptive alike), so the range only moves right.
// Each dx element sums its windows in (oh, ow) order.
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat_index(gid, nwg);
    if (r >= p.planes * p.h) {
        return;
    }
    let plane = udiv(r, p.h);
    let ih = i32(r - plane * p.h);
    let rh = row_cells(ih);
    var lo = 0u;
    var hi = 0u;
    for (var iw = 0; iw < i32(p.w); iw++) {
        while (hi < p.ow && window(hi, p.w, p.ow, p.kw).x <= iw) {
            hi++;
        }
        while (lo < hi && window(lo, p.w, p.ow, p.kw).y <= iw) {
            lo++;
        }
        var s = 0.0;
        for (var oh = rh.x; oh < rh.y; oh++) {
            let wh = window(oh, p.h, p.oh, p.kh);
            if (ih < wh.x || ih >= wh.y) {
                continue;
            }
            for (var ow = lo; ow < hi; ow++) {
                s += src[(plane * p.oh + oh) * p.ow + ow] / divisor(wh, window(ow, p.w, p.ow, p.kw));
            }
        }
        dst[r * p.w + u32(iw)] = s;
    }
}
