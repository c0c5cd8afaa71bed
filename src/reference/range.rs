//! CPU reference of `range`: max(max x − R, −R − min x, 0) and its subgradient.

pub fn forward(x: &[f64], r: f64) -> f64 {
    let mx = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mn = x.iter().cloned().fold(f64::INFINITY, f64::min);
    (mx - r).max(-r - mn).max(0.0)
}

pub fn backward(x: &[f64], r: f64) -> Vec<f64> {
    let mx = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mn = x.iter().cloned().fold(f64::INFINITY, f64::min);
    let (hi, lo) = (mx - r, -r - mn);
    x.iter()
        .map(|&v| {
            if hi > 0.0 && hi >= lo && v == mx {
                1.0
            } else if lo > 0.0 && lo > hi && v == mn {
                -1.0
            } else {
                0.0
            }
        })
        .collect()
}
