//! Wrapper of `shaders/quad.wgsl`: y = r*(c0 + c1*x + c2*x^2) + (1-r)*relu(x), with the
//! coefficient gradients reduced deterministically by `reduce`.

use super::reduce::{reduce_into, Mode};
use super::{f, grid_1d, u};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

fn check(x: &Tensor, coef: &Tensor, r: f32) -> Result<()> {
    x.expect_dtype("quad", "x", DType::F32)?;
    coef.expect_shape("quad", "coefficients", &[3])?;
    if !(0.0..=1.0).contains(&r) {
        return Err(Error::shape("quad", format!("blend ratio {r} is outside [0, 1]")));
    }
    Ok(())
}

/// `coef` = [c0, c1, c2]; `r` = blend ratio (1: pure polynomial, 0: ReLU).
pub fn forward(x: &Tensor, coef: &Tensor, r: f32) -> Result<Tensor> {
    check(x, coef, r)?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let p = [u("quad", x.numel())?, f(r)];
    gpu.dispatch("quad", "forward", &p, &[(1, x.buffer()), (2, coef.buffer()), (4, y.buffer())], grid_1d(gpu, x.numel())?)?;
    Ok(y)
}

/// Returns (dx, dcoef [3]).
pub fn backward(x: &Tensor, coef: &Tensor, r: f32, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    check(x, coef, r)?;
    if x.shape() != dy.shape() {
        return Err(Error::shape("quad backward", format!("x {:?} vs dy {:?}", x.shape(), dy.shape())));
    }
    let gpu = x.gpu();
    let dx = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let p = [u("quad", x.numel())?, f(r)];
    let bind = [(1, x.buffer()), (2, coef.buffer()), (3, dy.buffer()), (4, dx.buffer())];
    gpu.dispatch("quad", "backward", &p, &bind, grid_1d(gpu, x.numel())?)?;
    let dcoef = Tensor::empty(gpu, &[3], DType::F32)?;
    let dims = (1, 1, x.numel());
    reduce_into(dy, None, None, dims, Mode::Sum, r, &dcoef, 0)?;
    reduce_into(dy, Some(x), None, dims, Mode::Dot, r, &dcoef, 1)?;
    reduce_into(dy, Some(x), None, dims, Mode::DotSq, r, &dcoef, 2)?;
    Ok((dx, dcoef))
}
