//! Wrapper of `shaders/cross_entropy.wgsl`: class-weighted softmax cross-entropy (weighted mean).

use super::reduce::{reduce_into, Mode};
use super::{grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

/// What the backward needs: sums [2] = (sum of row losses, sum of row weights).
pub struct Saved {
    pub sums: Tensor,
}

params! {
    /// `struct Params` of `shaders/cross_entropy.wgsl`.
    pub(crate) struct Params {
        n: u32,
        c: u32,
    }
}

/// Checks the operands; returns (rows, classes) and the kernel's parameters.
fn check(logits: &Tensor, labels: &Tensor, weights: &Tensor) -> Result<(usize, usize, Params)> {
    const OP: &str = "cross_entropy";
    logits.expect_rank(OP, "logits", 2)?;
    let (n, c) = (logits.shape()[0], logits.shape()[1]);
    labels.expect_shape(OP, "labels", &[n])?;
    labels.expect_dtype(OP, "labels", DType::U32)?;
    weights.expect_shape(OP, "class weights", &[c])?;
    Ok((n, c, Params { n: u(OP, n)?, c: u(OP, c)? }))
}

/// Upload labels, refusing any that is not below `classes`.
pub fn labels(gpu: &crate::Gpu, labels: &[u32], classes: usize) -> Result<Tensor> {
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::shape("cross_entropy", format!("label {bad} is not below the number of classes {classes}")));
    }
    Tensor::from_u32(gpu, labels, &[labels.len()])
}

/// Returns (loss [1], saved).
pub fn forward(logits: &Tensor, labels: &Tensor, weights: &Tensor) -> Result<(Tensor, Saved)> {
    let (n, _, p) = check(logits, labels, weights)?;
    let gpu = logits.gpu();
    let rows = Tensor::empty(gpu, &[2, n], DType::F32)?;
    let bind = [("logits", logits.bind()), ("labels", labels.bind()), ("weights", weights.bind()), ("out", rows.bind())];
    gpu.dispatch("cross_entropy", "rows", &p, &bind, grid_1d(gpu, n)?)?;
    let sums = Tensor::empty(gpu, &[2], DType::F32)?;
    reduce_into(&rows, None, None, (1, 2, n), Mode::Sum, 1.0, &sums, 0)?;
    let loss = Tensor::empty(gpu, &[1], DType::F32)?;
    gpu.dispatch("cross_entropy", "finish", &p, &[("sums", sums.bind()), ("out", loss.bind())], [1, 1, 1])?;
    Ok((loss, Saved { sums }))
}

/// dlogits for upstream gradient `g` [1].
pub fn backward(logits: &Tensor, labels: &Tensor, weights: &Tensor, saved: &Saved, g: &Tensor) -> Result<Tensor> {
    let (n, c, p) = check(logits, labels, weights)?;
    g.expect_shape("cross_entropy backward", "upstream gradient", &[1])?;
    let gpu = logits.gpu();
    let dl = Tensor::empty(gpu, &[n, c], DType::F32)?;
    let bind = [
        ("logits", logits.bind()),
        ("labels", labels.bind()),
        ("weights", weights.bind()),
        ("sums", saved.sums.bind()),
        ("g", g.bind()),
        ("out", dl.bind()),
    ];
    gpu.dispatch("cross_entropy", "backward", &p, &bind, grid_1d(gpu, n * c)?)?;
    Ok(dl)
}
