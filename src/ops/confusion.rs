//! Wrapper of `shaders/confusion.wgsl`: add a batch's (true class, predicted class) counts to a
//! confusion matrix kept on the GPU.

use super::{grid_1d, u};
use crate::error::Result;
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/confusion.wgsl`.
    pub(crate) struct Params {
        n: u32,
        c: u32,
    }
}

/// counts [C, C] (rows: true class) += the pairs of `logits` [N, C] and `labels` u32 [N].
pub fn accumulate(counts: &Tensor, logits: &Tensor, labels: &Tensor) -> Result<()> {
    const OP: &str = "confusion";
    logits.expect_rank(OP, "logits", 2)?;
    let (n, c) = (logits.shape()[0], logits.shape()[1]);
    labels.expect_shape(OP, "labels", &[n])?;
    labels.expect_dtype(OP, "labels", DType::U32)?;
    counts.expect_shape(OP, "counts", &[c, c])?;
    let gpu = logits.gpu();
    let bind = [("logits", logits.bind()), ("labels", labels.bind()), ("counts", counts.bind())];
    gpu.dispatch(OP, "accumulate", &Params { n: u(OP, n)?, c: u(OP, c)? }, &bind, grid_1d(gpu, c * c)?)
}
