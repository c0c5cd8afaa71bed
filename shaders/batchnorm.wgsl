// batchnorm.wgsl — BatchNorm2d (the student inserts it after pooling layers; under CKKS it folds
// into the preceding convolution). Per-channel sums come from `reduce`; these kernels turn them
// into statistics, normalise, and back-propagate.
//
// Shapes:  x, y, xhat, dy, dx  [N, C, HW]      gamma, beta, mean, var, invstd  [C]
//          running_mean, running_var [C]       sdy, sdyx [C]  (sum of dy, sum of dy*xhat)
//   apply:    mean, var (biased, from `reduce`) -> invstd = 1/sqrt(var + eps);
//             xhat = (x - mean[c]) * invstd[c];  y = gamma[c]*xhat + beta[c]; and where
//             update != 0 (the first chunk of images) thread c < C also stores invstd[c] for the
//             backward and updates channel c's running stats with momentum, the running
//             variance unbiased by count/(count-1) (no separate per-channel pass)
//   apply_eval: y = gamma[c] * (x - running_mean[c]) / sqrt(running_var[c] + eps) + beta[c]
//             (eval mode: one pass, no xhat kept)
//   backward: dx = gamma*invstd/count * (count*dy - sdy - xhat*sdyx)        (training mode)
// count = N*HW; n = the number of elements this dispatch covers (all N*C*HW, or a chunk of whole
// images when a tensor is over the storage-binding limit; at least C).
// apply/apply_eval/backward: one thread per element, 1-D grid split over x/y (WG threads a workgroup).

struct Params { n: u32, c: u32, hw: u32, eps: f32, momentum: f32, count: f32, update: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> var_: array<f32>;
@group(0) @binding(6) var<storage, read_write> invstd: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(9) var<storage, read_write> y: array<f32>;
@group(0) @binding(10) var<storage, read_write> xhat: array<f32>;
@group(0) @binding(11) var<storage, read> sdy: array<f32>;
@group(0) @binding(12) var<storage, read> sdyx: array<f32>;

@compute @workgroup_size(WG)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    if (p.update != 0u && i < p.c) {
        invstd[i] = 1.0 / sqrt(var_[i] + p.eps);
        let unbiased = var_[i] * p.count / max(p.count - 1.0, 1.0);
        running_mean[i] = (1.0 - p.momentum) * running_mean[i] + p.momentum * mean[i];
        running_var[i] = (1.0 - p.momentum) * running_var[i] + p.momentum * unbiased;
    }
    let c = umod(udiv(i, p.hw), p.c);
    let h = (x[i] - mean[c]) * (1.0 / sqrt(var_[c] + p.eps));
    xhat[i] = h;
    y[i] = gamma[c] * h + beta[c];
}

// Here `mean` is the running mean.
@compute @workgroup_size(WG)
fn apply_eval(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let c = umod(udiv(i, p.hw), p.c);
    y[i] = gamma[c] * ((x[i] - mean[c]) * (1.0 / sqrt(running_var[c] + p.eps))) + beta[c];
}

// Here `x` is dy and `y` receives dx.
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let c = umod(udiv(i, p.hw), p.c);
    let k = gamma[c] * invstd[c] / p.count;
    y[i] = k * (p.count * x[i] - sdy[c] - xhat[i] * sdyx[c]);
}
