//! Wrapper of `shaders/quad.wgsl`: y = r*(c0 + c1*x + c2*x^2) + (1-r)*relu(x), with the
//! coefficient gradients reduced deterministically by `reduce`: in the same pass as dx
//! (`reduce::quad_backward`) when x fits one binding, by this shader's `backward` and a
//! `moments_into` pass over views of a larger one.

use super::reduce::moments_into;
use super::{for_chunks, grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

/// Elements a thread of `quad.wgsl` handles; it sets the shader's `SEG` (`SPEC`), so the two
/// cannot disagree.
const SEG: u32 = 8;
const SPEC: crate::gpu::Spec = &[("SEG", SEG)];

params! {
    /// `struct Params` of `shaders/quad.wgsl`.
    pub(crate) struct Params {
        n: u32,
        r: f32,
    }
}

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
    for_chunks(gpu, x.numel(), |s, n| {
        let (xv, yv) = (x.view(s, &[n])?, y.view(s, &[n])?);
        let bind = [("x", xv.bind()), ("coef", coef.bind()), ("out", yv.bind())];
        gpu.dispatch_spec("quad", "forward", SPEC, &Params { n: u("quad", n)?, r }, &bind, grid_1d(gpu, n.div_ceil(SEG as usize))?)
    })?;
    Ok(y)
}

/// Returns (dx, dcoef [3]). With `affine` the activation is c0 + c1·x (c2 is 0 and stays 0):
/// dcoef[2] is 0, so no optimiser moves c2.
pub fn backward(x: &Tensor, coef: &Tensor, r: f32, dy: &Tensor, affine: bool) -> Result<(Tensor, Tensor)> {
    backward_into(x, coef, r, dy, affine, None)
}

/// `backward`, writing dcoef into `into` when given.
pub fn backward_into(x: &Tensor, coef: &Tensor, r: f32, dy: &Tensor, affine: bool, into: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
    check(x, coef, r)?;
    if x.shape() != dy.shape() {
        return Err(Error::shape("quad backward", format!("x {:?} vs dy {:?}", x.shape(), dy.shape())));
    }
    let gpu = x.gpu();
    let dx = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let dcoef = super::output(gpu, "quad backward", &[3], into)?;
    let terms = if affine { 2 } else { 3 };
    if affine {
        gpu.clear(dcoef.bind());
    }
    if x.bytes() <= gpu.max_binding() {
        // dx and the coefficient sums in one pass
        super::reduce::quad_backward(dy, x, coef, r, terms, &dx, &dcoef)?;
        return Ok((dx, dcoef));
    }
    for_chunks(gpu, x.numel(), |s, n| {
        let (xv, dyv, dxv) = (x.view(s, &[n])?, dy.view(s, &[n])?, dx.view(s, &[n])?);
        let bind = [("x", xv.bind()), ("coef", coef.bind()), ("dy", dyv.bind()), ("out", dxv.bind())];
        gpu.dispatch_spec("quad", "backward", SPEC, &Params { n: u("quad", n)?, r }, &bind, grid_1d(gpu, n.div_ceil(SEG as usize))?)
    })?;
    let dims = (1, 1, x.numel());
    // sum dy, sum dy*x (and sum dy*x^2 unless affine) in one pass
    moments_into(dy, Some(x), dims, terms, r, &dcoef, 0, 1)?;
    Ok((dx, dcoef))
}
