// optim.wgsl — optimiser updates, in place on parameter buffers, with gradient clipping applied
// as each gradient is read (no pass of its own); and the scale of clipping by global norm.
//   clip:  g = clamp(g, -clip, clip) when clip > 0 (by value);  g *= scale[0] when scaled != 0
//          (by norm; PyTorch clips before the optimiser step, so weight decay comes after)
//   adam:  (PyTorch Adam; decoupled != 0 gives AdamW)
//          g' = g + wd*p (L2) | p *= 1 - lr*wd (decoupled);  m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
//          p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps),  step_size = lr/(1 - b1^t),
//          inv_sqrt_bc2 = 1/sqrt(1 - b2^t)  (bias corrections computed on the host in f64)
//   sgd:   g' = g + wd*p;  m = momentum*m + g';  p -= lr * m   (momentum 0: p -= lr * g')
//   norm_scale: scale[0] = min(1, max_norm / (sqrt(sum_t sumsq[t]) + 1e-6))   (one thread;
//          max_norm in clip)
// Shapes:  p, g, m, v [n];  sumsq [T] (per-tensor sums of squares from `reduce`);  scale [1]
//          (bind any buffer as scale when scaled == 0)
// One thread per element; 1-D grid split over x/y (WG threads a workgroup).

struct Params {
    n: u32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, step_size: f32, inv_sqrt_bc2: f32,
    decoupled: u32, momentum: f32, clip: f32, t: u32, scaled: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> sumsq: array<f32>;
@group(0) @binding(6) var<storage, read_write> scale: array<f32>;

// The gradient element i as the update uses it: clipped.
fn clipped(i: u32) -> f32 {
    var g = grad[i];
    if (p.scaled != 0u) {
        g *= scale[0];
    }
    if (p.clip > 0.0) {
        g = clamp(g, -p.clip, p.clip);
    }
    return g;
}

@compute @workgroup_size(WG)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    var w = param[i];
    var g = clipped(i);
    if (p.decoupled != 0u) {
        w *= 1.0 - p.lr * p.wd;
    } else {
        g += p.wd * w;
    }
    let mi = p.b1 * m[i] + (1.0 - p.b1) * g;
    let vi = p.b2 * v[i] + (1.0 - p.b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = w - p.step_size * mi / (sqrt(vi) * p.inv_sqrt_bc2 + p.eps);
}

@compute @workgroup_size(WG)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let g = clipped(i) + p.wd * param[i];
    var step = g;
    if (p.momentum != 0.0) {
        step = p.momentum * m[i] + g;
        m[i] = step;
    }
    param[i] -= p.lr * step;
}

@compute @workgroup_size(1)
fn norm_scale() {
    var s = 0.0;
    for (var t = 0u; t < p.t; t++) {
        s += sumsq[t];
    }
    scale[0] = min(1.0, p.clip / (sqrt(s) + 1e-6));
}
