//! Wrapper of `shaders/dropout.wgsl`: seeded inverted dropout; the backward is the same kernel
//! with the same seed applied to dy.

use super::{for_chunks, grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/dropout.wgsl`.
    pub(crate) struct Params {
        n: u32,
        seed: u32,
        threshold: u32,
        scale: f32,
        base: u32,
    }
}

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
    for_chunks(gpu, x.numel(), |s, n| {
        let (xv, yv) = (x.view(s, &[n])?, y.view(s, &[n])?);
        let p = Params { n: u("dropout", n)?, seed, threshold: threshold(prob), scale: 1.0 / (1.0 - prob), base: u("dropout", s)? };
        gpu.dispatch("dropout", "main", &p, &[("x", xv.bind()), ("y", yv.bind())], grid_1d(gpu, n)?)
    })?;
    Ok(y)
}
