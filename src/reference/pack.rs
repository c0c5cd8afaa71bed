//! CPU reference of `pack`: transpose of a row-major matrix with the new rows zero-padded.

/// x [rows, cols] → [cols, kp] with out[c, r] = x[r, c] (r < rows), 0 beyond.
pub fn transpose_padded(x: &[f64], rows: usize, cols: usize, kp: usize) -> Vec<f64> {
    let mut out = vec![0.0; cols * kp];
    for r in 0..rows {
        for c in 0..cols {
            out[c * kp + r] = x[r * cols + c];
        }
    }
    out
}
