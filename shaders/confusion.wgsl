// confusion.wgsl — the training confusion matrix accumulated on the GPU, so that a training
// step need not read its logits back:  counts[t·C + argmax(logits[n])] += 1 for every row n
// whose true class is t. The argmax is the host's: the first maximum, a NaN never wins over a
// number.
//
// Shapes:  logits [N, C];  labels u32 [N];  counts [C·C] f32, read-write (exact up to 2^24 per
//          cell, far beyond an epoch's images).
// One invocation per cell (C·C threads, 1-D grid split over x/y): each walks the N rows in
// order, so the counts are deterministic without atomics.

struct Params { n: u32, c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<f32>;

// NaN by its bits: WGSL lets an implementation assume floats are never NaN, so `v != v` may
// be folded away (lavapipe does).
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn wins(v: f32, best: f32) -> bool {
    return !is_nan(v) && (is_nan(best) || v > best);
}

@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let cell = flat_index(gid, nwg);
    if (cell >= p.c * p.c) {
        return;
    }
    let truth = cell / p.c;
    let pred = cell % p.c;
    var k = 0u;
    for (var i = 0u; i < p.n; i = i + 1u) {
        if (labels[i] != truth) {
            continue;
        }
        var best = 0u;
        for (var j = 1u; j < p.c; j = j + 1u) {
            if (wins(logits[i * p.c + j], logits[i * p.c + best])) {
                best = j;
            }
        }
        if (best == pred) {
            k = k + 1u;
        }
    }
    counts[cell] = counts[cell] + f32(k);
}
