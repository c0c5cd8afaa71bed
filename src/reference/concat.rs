//! CPU reference of `concat`: channel concatenation of NCHW tensors.

/// parts: (data, channels) with the same N and HW.
pub fn forward(parts: &[(&[f64], usize)], n: usize, hw: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for b in 0..n {
        for (data, c) in parts {
            out.extend_from_slice(&data[b * c * hw..(b + 1) * c * hw]);
        }
    }
    out
}
