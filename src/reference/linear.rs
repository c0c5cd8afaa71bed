//! CPU reference of the linear layer y = x·Wᵀ + b.

pub fn forward(x: &[f64], w: &[f64], b: Option<&[f64]>, n: usize, i: usize, o: usize) -> Vec<f64> {
    let mut y = vec![0.0; n * o];
    for r in 0..n {
        for c in 0..o {
            y[r * o + c] = b.map_or(0.0, |b| b[c]) + (0..i).map(|k| x[r * i + k] * w[c * i + k]).sum::<f64>();
        }
    }
    y
}

/// (dx, dw, db)
pub fn backward(x: &[f64], w: &[f64], dy: &[f64], n: usize, i: usize, o: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; n * i];
    let mut dw = vec![0.0; o * i];
    let mut db = vec![0.0; o];
    for r in 0..n {
        for c in 0..o {
            let d = dy[r * o + c];
            db[c] += d;
            for k in 0..i {
                dx[r * i + k] += d * w[c * i + k];
                dw[c * i + k] += d * x[r * i + k];
            }
        }
    }
    (dx, dw, db)
}
