//! Wrapper of `shaders/elementwise.wgsl`: accumulate, add, affine and fill.

use super::{f, grid_1d, u};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

fn same_len(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.numel() != b.numel() {
        return Err(Error::shape(op, format!("{:?} and {:?} differ in size", a.shape(), b.shape())));
    }
    Ok(())
}

/// y = beta*y + alpha*x, in place (gradient accumulation).
pub fn accumulate(y: &Tensor, x: &Tensor, alpha: f32, beta: f32) -> Result<()> {
    same_len("accumulate", y, x)?;
    if y.same_storage(x) {
        return Err(Error::shape("accumulate", "x and y must be different buffers"));
    }
    let gpu = y.gpu();
    let p = [u("accumulate", y.numel())?, f(alpha), f(beta)];
    gpu.dispatch("elementwise", "accumulate", &p, &[(1, x.buffer()), (3, y.buffer())], grid_1d(gpu, y.numel())?)
}

/// alpha*x + beta*z, as a new tensor shaped like x.
pub fn add(x: &Tensor, z: &Tensor, alpha: f32, beta: f32) -> Result<Tensor> {
    same_len("add", x, z)?;
    let gpu = x.gpu();
    let out = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let p = [u("add", x.numel())?, f(alpha), f(beta)];
    gpu.dispatch("elementwise", "add", &p, &[(1, x.buffer()), (2, z.buffer()), (3, out.buffer())], grid_1d(gpu, x.numel())?)?;
    Ok(out)
}

/// alpha*x + beta, as a new tensor shaped like x.
pub fn affine(x: &Tensor, alpha: f32, beta: f32) -> Result<Tensor> {
    let gpu = x.gpu();
    let out = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let p = [u("affine", x.numel())?, f(alpha), f(beta)];
    gpu.dispatch("elementwise", "affine", &p, &[(1, x.buffer()), (3, out.buffer())], grid_1d(gpu, x.numel())?)?;
    Ok(out)
}

/// Set every element of y to `value`.
pub fn fill(y: &Tensor, value: f32) -> Result<()> {
    let gpu = y.gpu();
    let p = [u("fill", y.numel())?, f(value), 0];
    gpu.dispatch("elementwise", "fill", &p, &[(3, y.buffer())], grid_1d(gpu, y.numel())?)
}

/// A new tensor of `shape` filled with `value`.
pub fn full(gpu: &crate::Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
    let t = Tensor::empty(gpu, shape, DType::F32)?;
    fill(&t, value)?;
    Ok(t)
}
