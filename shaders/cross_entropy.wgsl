// cross_entropy.wgsl — softmax cross-entropy with class weights, PyTorch's weighted mean:
//     loss = sum_n w[y_n] * (logsumexp(z_n) - z_n[y_n]) / sum_n w[y_n]
// Numerically stable (max subtracted). Rows whose label is out of range get weight 0.
//
// Shapes:  logits [N, C], labels [N] u32, weights [C]
//   rows:     rows [2, N]: rows[n] = w[y_n]*(lse_n - z_n[y_n]),  rows[N + n] = w[y_n]
//             (`reduce` sums both halves into sums [2])
//   finish:   loss [1] = sums[0] / sums[1]                                 (one thread)
//   backward: dlogits[n, c] = g[0] * w[y_n] * (softmax(z_n)[c] - [c == y_n]) / sums[1]
// rows: one thread per row; backward: one per logit, 1-D grid split over x/y (WG a group).

struct Params { n: u32, c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read> sums: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

fn row_max(n: u32) -> f32 {
    var m = logits[n * p.c];
    for (var c = 1u; c < p.c; c++) {
        m = max(m, logits[n * p.c + c]);
    }
    return m;
}

fn row_sumexp(n: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < p.c; c++) {
        s += exp(logits[n * p.c + c] - m);
    }
    return s;
}

fn weight_of(n: u32) -> f32 {
    let y = labels[n];
    return select(0.0, weights[min(y, p.c - 1u)], y < p.c);
}

@compute @workgroup_size(WG)
fn rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = flat_index(gid, nwg);
    if (n >= p.n) {
        return;
    }
    let m = row_max(n);
    let lse = m + log(row_sumexp(n, m));
    let w = weight_of(n);
    let y = min(labels[n], p.c - 1u);
    out[n] = w * (lse - logits[n * p.c + y]);
    out[p.n + n] = w;
}

@compute @workgroup_size(1)
fn finish() {
    out[0] = sums[0] / sums[1];
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n * p.c) {
        return;
    }
    let n = i / p.c;
    let c = i % p.c;
    let m = row_max(n);
    let sm = exp(logits[i] - m) / row_sumexp(n, m);
    let onehot = select(0.0, 1.0, labels[n] == c);
    out[i] = g[0] * weight_of(n) * (sm - onehot) / sums[1];
}
