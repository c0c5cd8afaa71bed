//! `heft he-report`'s result and its printed form: the depth table, the observed ranges, the
//! CKKS parameters and whether the model is HE-friendly at all.

use super::{depth, recommend, Ckks, DataStats, LayerCost};
use crate::nn::model::Model;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub layers: Vec<LayerCost>,
    /// Multiplicative depth of the whole model.
    pub depth: usize,
    pub he_friendly: bool,
    /// Ranges observed over data, when data was given.
    pub data: Option<DataStats>,
    pub ckks: Ckks,
}

/// Depth, CKKS parameters for it (and for the largest observed value, when `stats` is given).
pub fn report(model: &Model, stats: Option<DataStats>) -> Report {
    let layers = depth(model);
    let total = layers.last().map_or(0, |c| c.depth);
    let ckks = recommend(total, stats.as_ref().map(|s| s.max_abs as f64));
    let he_friendly = layers.iter().all(|c| c.problem.is_none());
    Report { layers, depth: total, he_friendly, data: stats, ckks }
}

/// The human table.
pub fn format(r: &Report) -> String {
    let mut s = format!("{:<36} {:<22} {:>7} {:>6}  notes\n", "layer", "type", "levels", "depth");
    for c in &r.layers {
        s += &format!("{:<36} {:<22} {:>7} {:>6}  {}\n", c.name, c.kind, c.levels, c.depth, c.problem.as_deref().unwrap_or(""));
    }
    s += &format!(
        "multiplicative depth: {} (conv/linear 1, polynomial activation 1 with its c2 and c0 folded into the next layer, avg-pool, BN and residual additions 0)\n",
        r.depth
    );
    if let Some(d) = &r.data {
        s += &format!("\nobserved over {} images:\n", d.images);
        for a in &d.acts {
            s += &format!("activation {:<36} input [{:>9.3}, {:>9.3}]  p99.9 |x| {:>8.3}\n", a.name, a.min, a.max, a.p999_abs);
        }
        s += &format!("largest |intermediate value|: {:.3}\n", d.max_abs);
        let [median, p99, max] = d.image_peaks;
        if !d.acts.is_empty() {
            s += &format!("per image, its largest |activation input|: median {median:.3}, 99th percentile {p99:.3}, largest {max:.3}\n");
        }
        for w in &d.worst_images {
            s += &format!("  {:.3} at {} in {}\n", w.abs, w.activation, w.path);
        }
    }
    let c = &r.ckks;
    s += &format!(
        "\nCKKS, 128-bit security: ring dimension {} ({} slots), scale 2^{}, first prime {} bits, {} primes of {} bits, special prime {} bits: log2(QP) = {} (bound {})\n",
        c.ring_dim, c.slots, c.scale_bits, c.first_prime_bits, c.levels, c.scale_bits, c.special_prime_bits, c.total_bits, c.max_total_bits
    );
    for reason in &c.reasons {
        s += &format!("  - {reason}\n");
    }
    for w in &c.warnings {
        s += &format!("warning: {w}\n");
    }
    let problems: Vec<&str> = r.layers.iter().filter_map(|c| c.problem.as_deref()).collect();
    if !problems.is_empty() {
        s += &format!("NOT HE-friendly: {}\n", problems.join("; "));
    }
    s
}
