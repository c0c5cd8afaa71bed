//! CPU reference of `quad`: y = r*(c0 + c1 x + c2 x^2) + (1 - r)*relu(x).

pub fn forward(x: &[f64], c: &[f64; 3], r: f64) -> Vec<f64> {
    x.iter().map(|&v| r * (c[0] + c[1] * v + c[2] * v * v) + (1.0 - r) * v.max(0.0)).collect()
}

/// (dx, [dc0, dc1, dc2])
pub fn backward(x: &[f64], c: &[f64; 3], r: f64, dy: &[f64]) -> (Vec<f64>, [f64; 3]) {
    let mut dc = [0.0; 3];
    let dx = x
        .iter()
        .zip(dy)
        .map(|(&v, &d)| {
            dc[0] += r * d;
            dc[1] += r * d * v;
            dc[2] += r * d * v * v;
            let relu_slope = if v > 0.0 { 1.0 } else { 0.0 };
            d * (r * (c[1] + 2.0 * c[2] * v) + (1.0 - r) * relu_slope)
        })
        .collect();
    (dx, dc)
}
