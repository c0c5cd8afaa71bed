// reduce.wgsl — deterministic per-channel reductions (sums and maxima) in two passes: fixed
// chunks, each reduced by the 64 threads of a workgroup and then in thread order by its first
// thread; then each channel's chunk results combined in order by one thread.
// No float atomics: the same input gives the same bits on the same adapter.
// Used for bias gradients, batch-norm statistics, quadratic-coefficient gradients, gradient
// norms and metrics.
//
// Shapes:  x, y   [outer, C, inner]   (y only read by modes 1, 2 and 7; bind x when unused)
//          aux    [C]                 (mode 5 only; bind any buffer otherwise)
//          part   [T, C, G]           partial results (G chunks per channel and term)
//          out    out[off + t*S + c] = scale * reduce_j f_t(j)  over the outer*inner elements
//                 of channel c, for the T = `terms` terms (1 but in modes 7 and 8), S = `ostride` >= C
// Modes f: 0 x   1 x*y   2 x*y*y   3 max x (scale ignored)   4 x*x   5 (x - aux[c])^2
//          6 min x (scale ignored)   7 moments: f_t = x*y^t for t < T <= 3, in one pass (the
//          quadratic activation's three coefficient gradients, batch norm's two backward sums),
//          each summed in the same order as modes 0, 1 and 2 would.
//          8 mean and variance: sums of d = x - s_c and d^2 (T = 2), s_c the channel's first
//          element (outer 0, inner 0), give out = s_c + m1 (the mean) and m2 - m1^2 (the biased
//          variance), m_t = scale * sum d^t with scale = 1/(outer*inner): batch norm's
//          statistics in one pass; the shift keeps m2 - m1^2 from cancelling when |mean| >> std.
//          9 the quadratic activation's backward (quad.wgsl) in the pass of its coefficient
//          gradients: mode 7's moments of x = dy and y = the activation's input, scale = its
//          blend r, aux = its coefficients [3] (C = 1), and as each element is read
//          dx[idx] = dy * (r*(c1 + 2*c2*y) + (1 - r)*(y > 0)), the same expression as quad.wgsl.
//          dx [outer, C, inner] (modes other than 9 do not write it; bind any buffer).
// Pass `partial`: grid (G, C), 64 threads; with G = 1 it writes `out` itself and `finish` is
// not run.  Pass `finish`: grid (ceil(T*C/WG)), WG threads, one per channel and term.
// qstep, rstep = 64 / inner, 64 % inner: a thread steps through its elements without
// dividing (integer division is slow on CPU drivers).

struct Params {
    outer: u32, c: u32, inner: u32, g: u32, scale: f32, off: u32, terms: u32, ostride: u32,
    qstep: u32, rstep: u32,
}

// The mode is a constant set per pipeline: only its own arithmetic is compiled into the loop.
const MODE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

// the 64 threads' values of each term
var<workgroup> vals: array<f32, 192>;

fn combine(a: f32, b: f32) -> f32 {
    if (MODE == 3u) {
        return max(a, b);
    }
    if (MODE == 6u) {
        return min(a, b);
    }
    return a + b;
}

fn identity() -> f32 {
    if (MODE == 3u) {
        return -3.4028235e38;
    }
    if (MODE == 6u) {
        return 3.4028235e38;
    }
    return 0.0;
}

fn term(c: u32, idx: u32) -> f32 {
    let v = x[idx];
    switch MODE {
        case 1u: { return v * y[idx]; }
        case 2u: { let w = y[idx]; return v * w * w; }
        case 4u: { return v * v; }
        case 5u: { let d = v - aux[c]; return d * d; }
        default: { return v; }
    }
}

// Store term e of channel c from its reduced value r (and, in mode 8, term 0's value r0).
fn emit(e: u32, c: u32, r: f32, r0: f32) {
    var v = r;
    if (MODE == 8u) {
        let m1 = r0 * p.scale;
        if (e == 0u) {
            v = x[c * p.inner] + m1;
        } else {
            v = max(r * p.scale - m1 * m1, 0.0);
        }
    } else if (MODE != 3u && MODE != 6u) {
        v *= p.scale;
    }
    out[p.off + e * p.ostride + c] = v;
}

// Thread 0 adds the 64 threads' values of term e in thread order, after one barrier: on
// llvmpipe a 256-thread workgroup with a 9-barrier tree took about 27 us whatever its data,
// far more than 63 serial additions.
fn workgroup_total(e: u32) -> f32 {
    var r = vals[64u * e];
    for (var k = 1u; k < 64u; k++) {
        r = combine(r, vals[64u * e + k]);
    }
    return r;
}

@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let g = wid.x;
    let c = wid.y;
    let L = p.outer * p.inner;
    let chunk = (L + p.g - 1u) / p.g;
    let end = min(g * chunk + chunk, L);
    // element j = g*chunk + t + 64*step of the channel is at (o*C + c)*inner + i
    var j = g * chunk + t;
    var o = j / p.inner;
    var i = j % p.inner;
    var acc = array<f32, 3>(identity(), identity(), identity());
    let shift = x[c * p.inner];
    // mode 9's coefficients, loaded once (every load is a loop over the lanes on CPU drivers)
    var a1 = 0.0;
    var a2 = 0.0;
    if (MODE == 9u) {
        a1 = aux[1];
        a2 = aux[2];
    }
    for (; j < end; j += 64u) {
        let idx = (o * p.c + c) * p.inner + i;
        if (MODE == 7u || MODE == 9u) {
            let v = x[idx];
            acc[0] += v;
            if (p.terms > 1u) {
                let w = y[idx];
                acc[1] += v * w;
                acc[2] += v * w * w;
            }
            if (MODE == 9u) {
                let w = y[idx];
                let slope = p.scale * (2.0 * a2 * w + a1) + (1.0 - p.scale) * select(0.0, 1.0, w > 0.0);
                dx[idx] = v * slope;
            }
        } else if (MODE == 8u) {
            let d = x[idx] - shift;
            acc[0] += d;
            acc[1] += d * d;
        } else {
            acc[0] = combine(acc[0], term(c, idx));
        }
        i += p.rstep;
        o += p.qstep;
        if (i >= p.inner) {
            i -= p.inner;
            o += 1u;
        }
    }
    for (var e = 0u; e < p.terms; e++) {
        vals[64u * e + t] = acc[e];
    }
    workgroupBarrier();
    if (t == 0u) {
        let r0 = workgroup_total(0u);
        for (var e = 0u; e < p.terms; e++) {
            let r = workgroup_total(e);
            if (p.g == 1u) {
                emit(e, c, r, r0);
            } else {
                part[(e * p.c + c) * p.g + g] = r;
            }
        }
    }
}

// One thread per channel and term combines its G partials in order: G is at most 1024, and a
// tree with barriers costs more than that on llvmpipe. (Mode 8's variance also re-adds the
// channel's term-0 partials.)
@compute @workgroup_size(WG)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ec = gid.x;
    if (ec >= p.terms * p.c) {
        return;
    }
    let e = ec / p.c;
    let c = ec - e * p.c;
    var r = identity();
    for (var g = 0u; g < p.g; g++) {
        r = combine(r, part[ec * p.g + g]);
    }
    var r0 = r;
    if (MODE == 8u && e == 1u) {
        r0 = 0.0; // term 0's sum, in the same order as its own thread adds it
        for (var g = 0u; g < p.g; g++) {
            r0 += part[c * p.g + g];
        }
    }
    emit(e, c, r, r0);
}
