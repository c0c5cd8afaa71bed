//! Wrapper of `shaders/batchnorm.wgsl`: BatchNorm2d in training mode (batch statistics, running
//! averages updated in place) and eval mode (running statistics), and its backward.

use super::reduce::{mean_var_into, moments_into};
use super::{grid_1d, item_chunks, u, GradsInto};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

/// What the backward needs from a training-mode forward.
pub struct Saved {
    pub xhat: Tensor,
    pub invstd: Tensor,
}

/// Elements a thread of the normalising passes handles: a run within one channel plane. It sets
/// the shader's `SEG` (`SPEC`), so the two cannot disagree.
const SEG: u32 = 8;
const SPEC: crate::gpu::Spec = &[("SEG", SEG)];

fn dims(x: &Tensor, gamma: &Tensor) -> Result<(usize, usize, usize)> {
    const OP: &str = "batchnorm";
    x.expect_dtype(OP, "input", DType::F32)?;
    if x.shape().len() < 2 {
        return Err(Error::shape(OP, format!("input {:?} needs a channel dimension", x.shape())));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let hw = x.numel() / (n * c);
    gamma.expect_shape(OP, "weight", &[c])?;
    Ok((n, c, hw))
}

/// Distance between two per-channel vectors of `c` values in one buffer, so that each starts at
/// a bindable offset.
fn stat_stride(gpu: &crate::gpu::Gpu, c: usize) -> usize {
    let align = (gpu.limits().min_storage_buffer_offset_alignment as usize).max(4) / 4;
    c.next_multiple_of(align)
}

params! {
    /// `struct Params` of `shaders/batchnorm.wgsl`.
    pub(crate) struct Params {
        n: u32,
        c: u32,
        hw: u32,
        eps: f32,
        momentum: f32,
        count: f32,
        update: u32,
    }
}

/// `m` images of a batch of `n` (the passes run per chunk of images over the binding limit);
/// no running-statistics update.
fn params(m: usize, n: usize, c: usize, hw: usize, eps: f32, momentum: f32) -> Result<Params> {
    const OP: &str = "batchnorm";
    Ok(Params { n: u(OP, m * c * hw)?, c: u(OP, c)?, hw: u(OP, hw)?, eps, momentum, count: (n * hw) as f32, update: 0 })
}

/// Training mode: normalise with batch statistics; update the running averages in place
/// (momentum as in PyTorch, running variance unbiased).
pub fn forward_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
    momentum: f32,
) -> Result<(Tensor, Saved)> {
    let (n, c, hw) = dims(x, gamma)?;
    if n * hw < 2 {
        return Err(Error::shape("batchnorm", format!("training mode needs two or more values per channel, input {:?} has one; use a batch of 2 or more", x.shape())));
    }
    beta.expect_shape("batchnorm", "bias", &[c])?;
    running_mean.expect_shape("batchnorm", "running mean", &[c])?;
    running_var.expect_shape("batchnorm", "running var", &[c])?;
    let gpu = x.gpu();
    // mean and biased variance in one pass, each starting at a bindable offset
    let stride = stat_stride(gpu, c);
    let stats = Tensor::empty(gpu, &[2 * stride], DType::F32)?;
    mean_var_into(x, (n, c, hw), &stats, 0, stride)?;
    let (mean, var) = (stats.view(0, &[c])?, stats.view(stride, &[c])?);
    let invstd = Tensor::empty(gpu, &[c], DType::F32)?;
    let y = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let xhat = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let per = c * hw;
    // one pass normalises; in the first chunk the thread of each channel's first run also
    // stores its invstd and updates its running statistics
    for (n0, m) in item_chunks(gpu, "batchnorm", n, &[per])? {
        let (xv, yv, hv) = (x.view(n0 * per, &[m * per])?, y.view(n0 * per, &[m * per])?, xhat.view(n0 * per, &[m * per])?);
        let bind = [
            ("x", xv.bind()),
            ("gamma", gamma.bind()),
            ("beta", beta.bind()),
            ("mean", mean.bind()),
            ("var_", var.bind()),
            ("invstd", invstd.bind()),
            ("running_mean", running_mean.bind()),
            ("running_var", running_var.bind()),
            ("y", yv.bind()),
            ("xhat", hv.bind()),
        ];
        let p = Params { update: (n0 == 0) as u32, ..params(m, n, c, hw, eps, momentum)? };
        gpu.dispatch_spec("batchnorm", "apply", SPEC, &p, &bind, grid_1d(gpu, m * c * hw.div_ceil(SEG as usize))?)?;
    }
    Ok((y, Saved { xhat, invstd }))
}

/// Eval mode: normalise with the running statistics (one pass: the statistics are computed
/// per element, nothing is kept for a backward).
pub fn forward_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    let (n, c, hw) = dims(x, gamma)?;
    beta.expect_shape("batchnorm", "bias", &[c])?;
    running_mean.expect_shape("batchnorm", "running mean", &[c])?;
    running_var.expect_shape("batchnorm", "running var", &[c])?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let per = c * hw;
    for (n0, m) in item_chunks(gpu, "batchnorm", n, &[per])? {
        let (xv, yv) = (x.view(n0 * per, &[m * per])?, y.view(n0 * per, &[m * per])?);
        let bind = [("x", xv.bind()), ("gamma", gamma.bind()), ("beta", beta.bind()), ("mean", running_mean.bind()), ("running_var", running_var.bind()), ("y", yv.bind())];
        gpu.dispatch_spec("batchnorm", "apply_eval", SPEC, &params(m, n, c, hw, eps, 0.0)?, &bind, grid_1d(gpu, m * c * hw.div_ceil(SEG as usize))?)?;
    }
    Ok(y)
}

/// Training-mode backward: (dx, dgamma, dbeta).
pub fn backward(dy: &Tensor, gamma: &Tensor, saved: &Saved) -> Result<(Tensor, Tensor, Tensor)> {
    backward_into(dy, gamma, saved, GradsInto::default())
}

/// `backward`, writing dgamma and dbeta into `into`'s slots when dbeta's lies before dgamma's in
/// one buffer (the optimiser's arena lays them out so): the one pass of channel sums writes
/// both. Otherwise they are views of a new tensor.
pub fn backward_into(dy: &Tensor, gamma: &Tensor, saved: &Saved, into: GradsInto) -> Result<(Tensor, Tensor, Tensor)> {
    let (n, c, hw) = dims(dy, gamma)?;
    if dy.shape() != saved.xhat.shape() {
        return Err(Error::shape("batchnorm backward", format!("dy {:?} vs input {:?}", dy.shape(), saved.xhat.shape())));
    }
    let gpu = dy.gpu();
    // sum dy and sum dy*xhat per channel, in one pass, each starting at a bindable offset
    let span = match (into.b, into.w) {
        (Some(b), Some(g)) if b.numel() == c && g.numel() == c => b.span_to(g).filter(|(t, d)| *d >= c && t.view(*d, &[c]).is_ok()),
        _ => None,
    };
    let (sums, stride) = match span {
        Some(s) => s,
        None => {
            let stride = stat_stride(gpu, c);
            (Tensor::empty(gpu, &[2 * stride], DType::F32)?, stride)
        }
    };
    moments_into(dy, Some(&saved.xhat), (n, c, hw), 2, 1.0, &sums, 0, stride)?;
    let (sdy, sdyx) = (sums.view(0, &[c])?, sums.view(stride, &[c])?);
    let dx = Tensor::empty(gpu, dy.shape(), DType::F32)?;
    let per = c * hw;
    for (n0, m) in item_chunks(gpu, "batchnorm", n, &[per])? {
        let (dyv, dxv, hv) = (dy.view(n0 * per, &[m * per])?, dx.view(n0 * per, &[m * per])?, saved.xhat.view(n0 * per, &[m * per])?);
        let bind = [
            ("x", dyv.bind()),
            ("gamma", gamma.bind()),
            ("invstd", saved.invstd.bind()),
            ("y", dxv.bind()),
            ("xhat", hv.bind()),
            ("sdy", sdy.bind()),
            ("sdyx", sdyx.bind()),
        ];
        gpu.dispatch_spec("batchnorm", "backward", SPEC, &params(m, n, c, hw, 0.0, 0.0)?, &bind, grid_1d(gpu, m * c * hw.div_ceil(SEG as usize))?)?;
    }
    Ok((dx, sdyx, sdy))
}
