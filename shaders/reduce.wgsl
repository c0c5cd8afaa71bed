// reduce.wgsl — deterministic per-channel reductions (sums and maxima) in two passes: fixed
// chunks reduced by fixed-shape trees in workgroup memory, then each channel's chunk results
// combined in order by one thread.
// No float atomics: the same input gives the same bits on the same adapter.
// Used for bias gradients, batch-norm statistics, quadratic-coefficient gradients, gradient
// norms and metrics.
//
// Shapes:  x, y   [outer, C, inner]   (y only read by modes 1, 2 and 7; bind x when unused)
//          aux    [C]                 (mode 5 only; bind any buffer otherwise)
//          part   [T, C, G]           partial results (G chunks per channel and term)
//          out    out[off + t*S + c] = scale * reduce_j f_t(j)  over the outer*inner elements
//                 of channel c, for the T = `terms` terms (1 but in mode 7), S = `ostride` >= C
// Modes f: 0 x   1 x*y   2 x*y*y   3 max x (scale ignored)   4 x*x   5 (x - aux[c])^2
//          6 min x (scale ignored)   7 moments: f_t = x*y^t for t < T <= 3, in one pass (the
//          quadratic activation's three coefficient gradients, batch norm's two backward sums),
//          each summed in the same order as modes 0, 1 and 2 would.
// Pass `partial`: grid (G, C), 256 threads.  Pass `finish`: grid (ceil(T*C/WG)), WG threads,
// one per channel and term.

struct Params {
    outer: u32, C: u32, inner: u32, G: u32, mode: u32, scale: f32, off: u32, terms: u32, ostride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// one 256-value tree per term
var<workgroup> tree: array<f32, 768>;

fn combine(a: f32, b: f32) -> f32 {
    if (p.mode == 3u) {
        return max(a, b);
    }
    if (p.mode == 6u) {
        return min(a, b);
    }
    return a + b;
}

fn identity() -> f32 {
    if (p.mode == 3u) {
        return -3.4028235e38;
    }
    if (p.mode == 6u) {
        return 3.4028235e38;
    }
    return 0.0;
}

fn index(c: u32, j: u32) -> u32 {
    return (j / p.inner) * p.C * p.inner + c * p.inner + j % p.inner;
}

fn term(c: u32, j: u32) -> f32 {
    let idx = index(c, j);
    let v = x[idx];
    switch p.mode {
        case 1u: { return v * y[idx]; }
        case 2u: { let w = y[idx]; return v * w * w; }
        case 4u: { return v * v; }
        case 5u: { let d = v - aux[c]; return d * d; }
        default: { return v; }
    }
}

// Trees over the 256 values of each term in `tree`; term e's result lands in tree[256*e].
fn tree_reduce(t: u32) {
    for (var s = 128u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (t < s) {
            for (var e = 0u; e < p.terms; e++) {
                tree[256u * e + t] = combine(tree[256u * e + t], tree[256u * e + t + s]);
            }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let g = wid.x;
    let c = wid.y;
    let L = p.outer * p.inner;
    let chunk = (L + p.G - 1u) / p.G;
    let start = g * chunk;
    let end = min(start + chunk, L);
    var acc = array<f32, 3>(identity(), identity(), identity());
    if (p.mode == 7u) {
        for (var j = start + t; j < end; j += 256u) {
            let idx = index(c, j);
            let v = x[idx];
            acc[0] += v;
            if (p.terms > 1u) {
                let w = y[idx];
                acc[1] += v * w;
                acc[2] += v * w * w;
            }
        }
    } else {
        for (var j = start + t; j < end; j += 256u) {
            acc[0] = combine(acc[0], term(c, j));
        }
    }
    for (var e = 0u; e < p.terms; e++) {
        tree[256u * e + t] = acc[e];
    }
    tree_reduce(t);
    if (t == 0u) {
        for (var e = 0u; e < p.terms; e++) {
            part[(e * p.C + c) * p.G + g] = tree[256u * e];
        }
    }
}

// One thread per channel and term combines its G partials in order: G is at most 1024, and a
// tree with barriers costs more than that on llvmpipe.
@compute @workgroup_size(WG)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ec = gid.x;
    if (ec >= p.terms * p.C) {
        return;
    }
    var r = identity();
    for (var g = 0u; g < p.G; g++) {
        r = combine(r, part[ec * p.G + g]);
    }
    if (p.mode != 3u && p.mode != 6u) {
        r *= p.scale;
    }
    let e = ec / p.C;
    out[p.off + e * p.ostride + ec - e * p.C] = r;
}
