//! Wrapper of `shaders/dropout.wgsl`: seeded inverted dropout; the backward is the same kernel
//! with the same seed applied to dy.

use super::{f, grid_1d, u};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// Drop threshold on the 32-bit hash for probability `prob`.
pub fn threshold(prob: f32) -> u32 {
    (prob as f64 * 4294967296.0).min(u32::MAX as f64) as u32
}

/// Apply the mask of (`seed`, `prob`) to x; use it on the input forward and on dy backward.
pub fn apply(x: &Tensor, prob: f32, seed: u32) -> Result<Tensor> {
    if !(0.0..1.0).contains(&prob) {
        return Err(Error::shape("dropout", format!("probability {prob} is outside [0, 1)")));
    }
    x.expect_dtype("dropout", "x", DType::F32)?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let p = [u("dropout", x.numel())?, seed, threshold(prob), f(1.0 / (1.0 - prob))];
    gpu.dispatch("dropout", "main", &p, &[(1, x.buffer()), (2, y.buffer())], grid_1d(gpu, x.numel())?)?;
    Ok(y)
}
