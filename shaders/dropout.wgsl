// dropout.wgsl — inverted dropout with a counter-based hash RNG: element i of a call with seed s
// is dropped iff hash(s, i) < prob * 2^32. Forward and backward apply the same mask (same seed),
// so no mask is stored. Kept elements are scaled by 1/(1 - prob).
//
// Shapes:  x [n] -> y [n]  (backward: dy [n] -> dx [n], same kernel and seed); a dispatch may
//          cover a chunk of a larger tensor starting at element `base` (the mask depends on
//          base + i, so chunking does not change it)
// One thread per element; 1-D grid split over x/y (WG threads a workgroup).

struct Params { n: u32, seed: u32, threshold: u32, scale: f32, base: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// PCG-style integer hash (one round of the PCG output permutation on a mixed state).
fn hash(a: u32) -> u32 {
    let state = a * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) {
        let r = hash((p.base + i) ^ hash(p.seed));
        y[i] = select(x[i] * p.scale, 0.0, r < p.threshold);
    }
}
