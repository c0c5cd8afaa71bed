// quad.wgsl — the HE-friendly activation: a trainable quadratic y = c0 + c1*x + c2*x^2 with
// per-layer coefficients, blended with ReLU for the smooth transition:
//     y = r * (c0 + c1*x + c2*x^2) + (1 - r) * relu(x)        (r = 1: pure polynomial)
// The coefficient gradients are reductions, done by `reduce` (modes 0, 1, 2 scaled by r):
//     dc0 = r*sum(dy),  dc1 = r*sum(dy*x),  dc2 = r*sum(dy*x^2).
// `backward` runs for tensors over one binding only: below that, reduce.wgsl's mode 9 computes
// dx with the sums in one pass (the same expression; keep the two alike).
//
// Shapes:  coef [3] = (c0, c1, c2)
//          forward:  x [n] -> y [n]
//          backward: x [n], dy [n] -> dx [n],  dx = dy * (r*(c1 + 2*c2*x) + (1 - r)*(x > 0))
// One thread per run of SEG neighbouring elements, so that the coefficients are loaded once per
// run (on CPU drivers every load costs a loop over the SIMD lanes: per element, the three
// coefficient loads cost more than the element's own); 1-D grid split over x/y (WG threads a
// workgroup), ceil(n/SEG) threads. SEG is set per pipeline by the wrapper, which sizes the grid.

const SEG: u32 = 8u;

struct Params { n: u32, r: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let first = flat_index(gid, nwg) * SEG;
    if (first >= p.n) {
        return;
    }
    let c0 = coef[0];
    let c1 = coef[1];
    let c2 = coef[2];
    for (var i = first; i < min(first + SEG, p.n); i++) {
        let v = x[i];
        let poly = (c2 * v + c1) * v + c0;
        out[i] = p.r * poly + (1.0 - p.r) * max(v, 0.0);
    }
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let first = flat_index(gid, nwg) * SEG;
    if (first >= p.n) {
        return;
    }
    let c1 = coef[1];
    let c2 = coef[2];
    for (var i = first; i < min(first + SEG, p.n); i++) {
        let v = x[i];
        let slope = p.r * (2.0 * c2 * v + c1) + (1.0 - p.r) * select(0.0, 1.0, v > 0.0);
        out[i] = dy[i] * slope;
    }
}
