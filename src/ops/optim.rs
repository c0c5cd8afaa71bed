//! Wrapper of `shaders/optim.wgsl`: Adam/AdamW and SGD with momentum, in place, each clipping the
//! gradient as it reads it (by value, or by the scale of clipping by global norm, which
//! `norm_scale` reduces on the GPU: nothing is read back).

use super::reduce::{reduce_into, Mode};
use super::{for_chunks, grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::gpu::{Bind, Gpu};
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/optim.wgsl`, shared by its entry points (each reads some fields;
    /// the others stay zero). `t` is the number of tensors whose norms `norm_scale` combines.
    #[derive(Default)]
    pub(crate) struct Params {
        n: u32,
        lr: f32,
        b1: f32,
        b2: f32,
        eps: f32,
        wd: f32,
        step_size: f32,
        inv_sqrt_bc2: f32,
        decoupled: u32,
        momentum: f32,
        clip: f32,
        t: u32,
        scaled: u32,
    }
}

/// The clipping an update applies to each gradient element as it reads it (PyTorch clips the
/// gradients before the optimiser step: clip_grad_value_ / clip_grad_norm_).
#[derive(Clone, Copy, Debug)]
pub enum GradClip<'a> {
    None,
    /// Clamp to [-v, v].
    Value(f32),
    /// Multiply by the [1] factor of `norm_scale`.
    Scale(&'a Tensor),
}

impl<'a> GradClip<'a> {
    /// Set the parameter block's clip fields; the buffer to bind as `scale`.
    fn apply<'c>(&self, op: &'static str, p: &mut Params, gpu: &'c Gpu) -> Result<Bind<'c>>
    where
        'a: 'c,
    {
        match *self {
            GradClip::None => Ok(gpu.dummy()),
            GradClip::Value(v) if v > 0.0 => {
                p.clip = v;
                Ok(gpu.dummy())
            }
            GradClip::Value(v) => Err(Error::shape(op, format!("clip value {v} must be positive"))),
            GradClip::Scale(t) => {
                t.expect_shape(op, "clip scale", &[1])?;
                p.scaled = 1;
                Ok(t.bind())
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct AdamCfg {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW-style decoupled weight decay instead of L2 added to the gradient.
    pub decoupled: bool,
}

impl Default for AdamCfg {
    fn default() -> Self {
        AdamCfg { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false }
    }
}

fn same(op: &'static str, a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.numel() != b.numel() {
        return Err(Error::shape(op, format!("{what} {:?} does not match parameter {:?}", b.shape(), a.shape())));
    }
    Ok(())
}

/// One Adam step (`step` counts from 1) on `param` with moments `m`, `v`, the gradient clipped
/// by `clip`.
pub fn adam(param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, cfg: &AdamCfg, step: u64, clip: GradClip) -> Result<()> {
    const OP: &str = "adam";
    for (t, w) in [(grad, "gradient"), (m, "first moment"), (v, "second moment")] {
        same(OP, param, t, w)?;
    }
    if step == 0 {
        return Err(Error::shape(OP, "steps count from 1"));
    }
    let bc1 = 1.0 - (cfg.beta1 as f64).powf(step as f64);
    let bc2 = 1.0 - (cfg.beta2 as f64).powf(step as f64);
    let mut p = Params {
        lr: cfg.lr,
        b1: cfg.beta1,
        b2: cfg.beta2,
        eps: cfg.eps,
        wd: cfg.weight_decay,
        step_size: (cfg.lr as f64 / bc1) as f32,
        inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
        decoupled: cfg.decoupled as u32,
        ..Params::default()
    };
    let scale = clip.apply(OP, &mut p, param.gpu())?;
    chunked("adam", &mut p, &[("param", param), ("grad", grad), ("m", m), ("v", v)], scale)
}

/// Run `optim::entry` over chunks of the tensors, each bound to the shader's buffer of its name,
/// with `scale` bound whole.
fn chunked(entry: &'static str, p: &mut Params, ts: &[(&'static str, &Tensor)], scale: Bind) -> Result<()> {
    let gpu = ts[0].1.gpu();
    for_chunks(gpu, ts[0].1.numel(), |s, n| {
        p.n = u(entry, n)?;
        let views = ts.iter().map(|(name, t)| Ok((*name, t.view(s, &[n])?))).collect::<Result<Vec<_>>>()?;
        let mut bind: Vec<_> = views.iter().map(|(name, v)| (*name, v.bind())).collect();
        bind.push(("scale", scale));
        gpu.dispatch("optim", entry, p, &bind, grid_1d(gpu, n)?)
    })
}

/// One SGD step; `buf` is the momentum buffer (ignored when momentum is 0); the gradient is
/// clipped by `clip`.
pub fn sgd(param: &Tensor, grad: &Tensor, buf: &Tensor, lr: f32, momentum: f32, weight_decay: f32, clip: GradClip) -> Result<()> {
    const OP: &str = "sgd";
    same(OP, param, grad, "gradient")?;
    same(OP, param, buf, "momentum buffer")?;
    let mut p = Params { lr, wd: weight_decay, momentum, ..Params::default() };
    let scale = clip.apply(OP, &mut p, param.gpu())?;
    chunked("sgd", &mut p, &[("param", param), ("grad", grad), ("m", buf)], scale)
}

/// The [1] factor min(1, max_norm / (||g||₂ + 1e-6)) that clips `grads` together to global L2
/// norm `max_norm` (PyTorch's clip_grad_norm_), for the updates to apply (`GradClip::Scale`).
pub fn norm_scale(grads: &[&Tensor], max_norm: f32) -> Result<Tensor> {
    const OP: &str = "clip_norm";
    let first = grads.first().ok_or_else(|| Error::shape(OP, "no gradients"))?;
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(Error::shape(OP, format!("max norm {max_norm} must be positive")));
    }
    let gpu = first.gpu();
    let sumsq = Tensor::empty(gpu, &[grads.len()], DType::F32)?;
    for (i, g) in grads.iter().enumerate() {
        reduce_into(g, None, None, (1, 1, g.numel()), Mode::SumSq, 1.0, &sumsq, i)?;
    }
    let scale = Tensor::empty(gpu, &[1], DType::F32)?;
    let p = Params { clip: max_norm, t: u(OP, grads.len())?, ..Params::default() };
    gpu.dispatch("optim", "norm_scale", &p, &[("sumsq", sumsq.bind()), ("scale", scale.bind())], [1, 1, 1])?;
    Ok(scale)
}
