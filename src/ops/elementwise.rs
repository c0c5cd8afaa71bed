//! Wrapper of `shaders/elementwise.wgsl`: accumulate, add, affine and fill (split into chunks
//! over the binding limit).

use super::{for_chunks, grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/elementwise.wgsl`.
    pub(crate) struct Params {
        n: u32,
        alpha: f32,
        beta: f32,
    }
}

fn same_len(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.numel() != b.numel() {
        return Err(Error::shape(op, format!("{:?} and {:?} differ in size", a.shape(), b.shape())));
    }
    Ok(())
}

/// Dispatch `entry` over chunks; `x`, `z` (inputs, optional) and `y` (output) have n elements.
fn run(entry: &'static str, x: Option<&Tensor>, z: Option<&Tensor>, y: &Tensor, alpha: f32, beta: f32) -> Result<()> {
    let gpu = y.gpu();
    for_chunks(gpu, y.numel(), |s, n| {
        let view = |t: Option<&Tensor>| t.map(|t| t.view(s, &[n])).transpose();
        let (xv, zv, yv) = (view(x)?, view(z)?, y.view(s, &[n])?);
        let mut bind = vec![("y", yv.bind())];
        bind.extend(xv.as_ref().map(|t| ("x", t.bind())));
        bind.extend(zv.as_ref().map(|t| ("z", t.bind())));
        gpu.dispatch("elementwise", entry, &Params { n: u(entry, n)?, alpha, beta }, &bind, grid_1d(gpu, n)?)
    })
}

/// y = beta*y + alpha*x, in place (gradient accumulation).
pub fn accumulate(y: &Tensor, x: &Tensor, alpha: f32, beta: f32) -> Result<()> {
    same_len("accumulate", y, x)?;
    if y.same_storage(x) {
        return Err(Error::shape("accumulate", "x and y must be different buffers"));
    }
    run("accumulate", Some(x), None, y, alpha, beta)
}

/// alpha*x + beta*z, as a new tensor shaped like x.
pub fn add(x: &Tensor, z: &Tensor, alpha: f32, beta: f32) -> Result<Tensor> {
    same_len("add", x, z)?;
    let out = Tensor::empty(x.gpu(), x.shape(), DType::F32)?;
    run("add", Some(x), Some(z), &out, alpha, beta)?;
    Ok(out)
}

/// alpha*x + beta, as a new tensor shaped like x.
pub fn affine(x: &Tensor, alpha: f32, beta: f32) -> Result<Tensor> {
    let out = Tensor::empty(x.gpu(), x.shape(), DType::F32)?;
    run("affine", Some(x), None, &out, alpha, beta)?;
    Ok(out)
}

/// Set every element of y to `value`.
pub fn fill(y: &Tensor, value: f32) -> Result<()> {
    run("fill", None, None, y, value, 0.0)
}

/// A new tensor of `shape` filled with `value`.
pub fn full(gpu: &crate::Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
    let t = Tensor::empty(gpu, shape, DType::F32)?;
    fill(&t, value)?;
    Ok(t)
}
