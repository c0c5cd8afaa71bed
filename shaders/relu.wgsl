// relu.wgsl — ReLU, the teacher's activation.
//
// Shapes:  forward:  x [n] -> y [n],  y = max(x, 0)
//          backward: x [n], dy [n] -> dx [n],  dx = dy * (x > 0)
// One thread per element; 1-D grid split over x/y (WG threads a workgroup).

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) {
        out[i] = max(x[i], 0.0);
    }
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) {
        out[i] = select(0.0, dy[i], x[i] > 0.0);
    }
}
