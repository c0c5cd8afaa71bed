// batchnorm.wgsl — BatchNorm2d (the student inserts it after pooling layers; under CKKS it folds
// into the preceding convolution). Per-channel sums come from `reduce`; these kernels turn them
// into statistics, normalise, and back-propagate.
//
// Shapes:  x, y, xhat, dy, dx  [N, C, HW]      gamma, beta, mean, var, invstd  [C]
//          running_mean, running_var [C]       sdy, sdyx [C]  (sum of dy, sum of dy*xhat)
//   apply:    mean, var (biased, from `reduce`) -> invstd = 1/sqrt(var + eps);
//             xhat = (x - mean[c]) * invstd[c];  y = gamma[c]*xhat + beta[c]; and where
//             update != 0 (the first chunk of images) the thread of the first run of channel
//             c's plane in image 0 also stores invstd[c] for the backward and updates channel
//             c's running stats with momentum, the running variance unbiased by
//             count/(count-1) (no separate per-channel pass)
//   apply_eval: y = gamma[c] * (x - running_mean[c]) / sqrt(running_var[c] + eps) + beta[c]
//             (eval mode: one pass, no xhat kept)
//   backward: dx = gamma*invstd/count * (count*dy - sdy - xhat*sdyx)        (training mode)
// count = N*HW; n = the number of elements this dispatch covers (all N*C*HW, or a chunk of whole
// images when a tensor is over the storage-binding limit).
// apply/apply_eval/backward: one thread per run of up to SEG elements of one channel plane
// (threads = N*C*ceil(HW/SEG)), 1-D grid split over x/y (WG threads a workgroup).

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

// Elements one thread of apply/apply_eval/backward handles: a run of up to SEG in one channel
// plane (one image's HW values of a channel), so that the channel's values are loaded once per
// run (on CPU drivers every load costs a loop over the SIMD lanes, and per element these were
// four loads of the channel's values against one of the element's). Set per pipeline by the
// wrapper, which sizes the grid by it.
const SEG: u32 = 8u;

struct Run {
    plane: u32, // image * C + channel
    seg: u32,   // which run of the plane
    first: u32, // its elements are [first, end)
    end: u32,
}

// The run of thread t; `plane` >= n / HW when t is past the last one.
fn run_of(t: u32) -> Run {
    let segs = udiv(p.hw + SEG - 1u, SEG);
    let plane = udiv(t, segs);
    let seg = t - plane * segs;
    let first = plane * p.hw + seg * SEG;
    return Run(plane, seg, first, min(first + SEG, (plane + 1u) * p.hw));
}

@compute @workgroup_size(WG)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = run_of(flat_index(gid, nwg));
    if (r.plane * p.hw >= p.n) {
        return;
    }
    let c = umod(r.plane, p.c);
    if (p.update != 0u && r.plane < p.c && r.seg == 0u) {
        invstd[c] = 1.0 / sqrt(var_[c] + p.eps);
        let unbiased = var_[c] * p.count / max(p.count - 1.0, 1.0);
        running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean[c];
        running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
    }
    let m = mean[c];
    let s = 1.0 / sqrt(var_[c] + p.eps);
    let g = gamma[c];
    let b = beta[c];
    for (var i = r.first; i < r.end; i++) {
        let h = (x[i] - m) * s;
        xhat[i] = h;
        y[i] = g * h + b;
    }
}

// Here `mean` is the running mean.
@compute @workgroup_size(WG)
fn apply_eval(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = run_of(flat_index(gid, nwg));
    if (r.plane * p.hw >= p.n) {
        return;
    }
    let c = umod(r.plane, p.c);
    let m = mean[c];
    let s = 1.0 / sqrt(running_var[c] + p.eps);
    let g = gamma[c];
    let b = beta[c];
    for (var i = r.first; i < r.end; i++) {
        y[i] = g * ((x[i] - m) * s) + b;
    }
}

// Here `x` is dy and `y` receives dx.
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = run_of(flat_index(gid, nwg));
    if (r.plane * p.hw >= p.n) {
        return;
    }
    let c = umod(r.plane, p.c);
    let k = gamma[c] * invstd[c] / p.count;
    let a = sdy[c];
    let b = sdyx[c];
    for (var i = r.first; i < r.end; i++) {
        y[i] = k * (p.count * x[i] - a - xhat[i] * b);
    }
}
