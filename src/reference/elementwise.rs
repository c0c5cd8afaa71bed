//! CPU reference of `elementwise`.

/// beta*y + alpha*x
pub fn axpby(alpha: f64, x: &[f64], beta: f64, y: &[f64]) -> Vec<f64> {
    x.iter().zip(y).map(|(x, y)| alpha * x + beta * y).collect()
}

/// alpha*x + beta
pub fn affine(x: &[f64], alpha: f64, beta: f64) -> Vec<f64> {
    x.iter().map(|x| alpha * x + beta).collect()
}
