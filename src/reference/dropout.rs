//! CPU reference of `dropout`: the same counter-based hash, evaluated on the CPU.

fn hash(a: u32) -> u32 {
    let state = a.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// True when element i is dropped for this seed and threshold.
pub fn dropped(i: u32, seed: u32, threshold: u32) -> bool {
    hash(i ^ hash(seed)) < threshold
}

pub fn apply(x: &[f64], prob: f64, seed: u32, threshold: u32) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| if dropped(i as u32, seed, threshold) { 0.0 } else { v / (1.0 - prob) })
        .collect()
}
