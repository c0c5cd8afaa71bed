// range.wgsl — the range-awareness penalty that keeps an activation's inputs inside [-R, R]
// (a polynomial approximates ReLU only on a bounded range; under CKKS large values also
// overflow the scale):  loss = max(max(x) - R, -R - min(x), 0)   (IBM's L1 hinge, per layer).
// The extremes come from `reduce` (modes max and min).
//
// Shapes:  mm [2] = (max x, min x);  loss [1];  g [1] upstream gradient;  x, dx [n] (the whole tensor, or a chunk of it over the binding limit)
//   forward:  loss[0] from mm                                           (one thread)
//   backward: only the larger of the two terms is active (the max term on a tie); its
//             gradient goes to every element equal to that extreme:
//             dx[i] = g if the max term is active and x_i == max(x),
//                    -g if the min term is active and x_i == min(x), else 0 (0 when loss = 0).
// backward: one thread per element; 1-D grid split over x/y (WG threads a workgroup).

struct Params { n: u32, r: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mm: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(1)
fn forward() {
    out[0] = max(max(mm[0] - p.r, -p.r - mm[1]), 0.0);
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let hi = mm[0] - p.r;
    let lo = -p.r - mm[1];
    var d = 0.0;
    if (hi > 0.0 && hi >= lo && x[i] == mm[0]) {
        d = g[0];
    } else if (lo > 0.0 && lo > hi && x[i] == mm[1]) {
        d = -g[0];
    }
    out[i] = d;
}
