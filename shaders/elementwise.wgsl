// elementwise.wgsl — the small element-wise helpers a training step needs: gradient
// accumulation, scaling, sums of tensors and constant fills.
//
// Shapes (all 1-D views of n elements):
//   accumulate: y[i] = beta*y[i] + alpha*x[i]     (x [n] read, y [n] read-write)
//   add:        out[i] = alpha*x[i] + beta*z[i]  (x, z [n], out [n])
//   affine:     out[i] = alpha*x[i] + beta       (x [n], out [n])
//   fill:       y[i] = alpha                     (y [n])
// One thread per element; 1-D grid split over x/y (WG threads a workgroup).

struct Params { n: u32, alpha: f32, beta: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) {
        y[i] = p.beta * y[i] + p.alpha * x[i];
    }
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) {
        y[i] = p.alpha * x[i] + p.beta * z[i];
    }
}

@compute @workgroup_size(WG)
fn affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) {
        y[i] = p.alpha * x[i] + p.beta;
    }
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) {
        y[i] = p.alpha;
    }
}
