//! Wrapper of `shaders/relu.wgsl`.

use super::{grid_1d, u};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

pub fn forward(x: &Tensor) -> Result<Tensor> {
    x.expect_dtype("relu", "x", DType::F32)?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let p = [u("relu", x.numel())?];
    gpu.dispatch("relu", "forward", &p, &[(1, x.buffer()), (3, y.buffer())], grid_1d(gpu, x.numel())?)?;
    Ok(y)
}

pub fn backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    if x.shape() != dy.shape() {
        return Err(Error::shape("relu backward", format!("x {:?} vs dy {:?}", x.shape(), dy.shape())));
    }
    let gpu = x.gpu();
    let dx = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let p = [u("relu", x.numel())?];
    gpu.dispatch("relu", "backward", &p, &[(1, x.buffer()), (2, dy.buffer()), (3, dx.buffer())], grid_1d(gpu, x.numel())?)?;
    Ok(dx)
}
