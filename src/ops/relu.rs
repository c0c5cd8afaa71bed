//! Wrapper of `shaders/relu.wgsl` (split into chunks over the binding limit).

use super::{for_chunks, grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/relu.wgsl`.
    pub(crate) struct Params {
        n: u32,
    }
}

pub fn forward(x: &Tensor) -> Result<Tensor> {
    x.expect_dtype("relu", "x", DType::F32)?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, x.shape(), DType::F32)?;
    for_chunks(gpu, x.numel(), |s, n| {
        let (xv, yv) = (x.view(s, &[n])?, y.view(s, &[n])?);
        gpu.dispatch("relu", "forward", &Params { n: u("relu", n)? }, &[("x", xv.bind()), ("out", yv.bind())], grid_1d(gpu, n)?)
    })?;
    Ok(y)
}

pub fn backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    if x.shape() != dy.shape() {
        return Err(Error::shape("relu backward", format!("x {:?} vs dy {:?}", x.shape(), dy.shape())));
    }
    let gpu = x.gpu();
    let dx = Tensor::empty(gpu, x.shape(), DType::F32)?;
    for_chunks(gpu, x.numel(), |s, n| {
        let (xv, dyv, dxv) = (x.view(s, &[n])?, dy.view(s, &[n])?, dx.view(s, &[n])?);
        gpu.dispatch("relu", "backward", &Params { n: u("relu", n)? }, &[("x", xv.bind()), ("dy", dyv.bind()), ("out", dxv.bind())], grid_1d(gpu, n)?)
    })?;
    Ok(dx)
}
