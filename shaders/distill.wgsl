// distill.wgsl — the knowledge-distillation loss of the student:
//     loss = T^2 / N * sum_n KL(softmax(t_n / T) || softmax(s_n / T))
//          = T^2 / N * sum_n sum_c pt (log pt - log ps)       (PyTorch KLDivLoss "batchmean")
// with log-softmax computed stably. The teacher logits are constants (no gradient).
//
// Shapes:  student [N, C], teacher [N, C]
//   rows:     rows [N]: KL of row n  (`reduce` with scale T^2/N gives the loss)
//   backward: dstudent[n, c] = g[0] * T / N * (ps[n, c] - pt[n, c])
// rows: one thread per row; backward: one per logit, 1-D grid split over x/y (WG a group).

struct Params { n: u32, c: u32, t: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// log-sum-exp of row n of z/T, for z = student (which == 0) or teacher (which == 1).
fn lse(n: u32, which: u32) -> f32 {
    var m = -3.4028235e38;
    for (var c = 0u; c < p.c; c++) {
        m = max(m, logit(n * p.c + c, which));
    }
    var s = 0.0;
    for (var c = 0u; c < p.c; c++) {
        s += exp(logit(n * p.c + c, which) - m);
    }
    return m + log(s);
}

fn logit(i: u32, which: u32) -> f32 {
    if (which == 0u) {
        return student[i] / p.t;
    }
    return teacher[i] / p.t;
}

@compute @workgroup_size(WG)
fn rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = flat_index(gid, nwg);
    if (n >= p.n) {
        return;
    }
    let ls = lse(n, 0u);
    let lt = lse(n, 1u);
    var kl = 0.0;
    for (var c = 0u; c < p.c; c++) {
        let i = n * p.c + c;
        let log_pt = logit(i, 1u) - lt;
        let log_ps = logit(i, 0u) - ls;
        kl += exp(log_pt) * (log_pt - log_ps);
    }
    out[n] = kl;
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n * p.c) {
        return;
    }
    let n = i / p.c;
    let ps = exp(logit(i, 0u) - lse(n, 0u));
    let pt = exp(logit(i, 1u) - lse(n, 1u));
    out[i] = g[0] * p.t / f32(p.n) * (ps - pt);
}
