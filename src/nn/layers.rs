//! The leaf layers a model is made of (convolution, linear, activation, pooling, batch norm),
//! named like the torchvision state dicts so weights move between heft and PyTorch, with their
//! initialisation. How leaves compose into a model is `nn::tree`.

use crate::error::Result;
use crate::nn::functional as F;
use crate::ops::avgpool::AvgPool;
use crate::ops::maxpool::Pool;
pub use super::forward::Ctx;
pub use super::tree::{Block, Branches, Join, Layer, Leaf};
use crate::rng::Rng;
use crate::tape::{Param, ParamKind, Tape, Var};
use crate::tensor::Tensor;
use crate::Gpu;

/// What an activation layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActKind {
    /// max(x, 0): the teacher.
    Relu,
    /// Trainable c0 + c1 x + c2 x², blended with ReLU by `ratio` during the transition.
    Poly,
    /// Fixed x² (for comparison).
    Square,
    /// Fixed 0.000469841857369822 x² + 0.500000000000008 x (the paper's approx_relu).
    ApproxRelu,
    /// Trainable c0 + c1 x, its x² coefficient 0 for good: a linearised activation, which
    /// costs no CKKS level (it folds into the linear layer before it).
    Affine,
}

/// (c0, c1, c2) of approx_relu, written with IBM's digits; f32 rounds them.
#[allow(clippy::excessive_precision)]
pub const APPROX_RELU: [f32; 3] = [0.0, 0.500000000000008, 0.000469841857369822];

pub struct Activation {
    /// State-dict prefix, e.g. `features.1`.
    pub name: String,
    pub kind: ActKind,
    /// Coefficients [c0, c1, c2] (`<name>.coef`); None for ReLU.
    pub coef: Option<Param>,
    /// Blend ratio: 1 = polynomial only, 0 = ReLU only.
    pub ratio: f32,
}

impl Activation {
    pub fn relu(name: &str) -> Activation {
        Activation { name: name.into(), kind: ActKind::Relu, coef: None, ratio: 0.0 }
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        match &self.coef {
            Some(c) if self.ratio > 0.0 => {
                let c = tape.param(c);
                F::quad(tape, x, &c, self.ratio, self.kind == ActKind::Affine)
            }
            _ => F::relu(tape, x),
        }
    }
}

pub struct Conv {
    pub name: String,
    pub w: Param,
    pub b: Option<Param>,
    pub stride: usize,
    pub pad: usize,
    /// The ReLU after it, in the same pass: only in the teacher distillation runs
    /// (`nn::fold`), never in a model that is built, saved or exported.
    pub relu: bool,
}

impl Conv {
    /// He (Kaiming) normal initialisation for ReLU networks, N(0, 2/fan_in), zero bias.
    /// (PyTorch's default U(±1/sqrt(fan_in)) shrinks the signal by ~√6 per ReLU layer: a
    /// from-scratch AlexNet then sits at chance for tens of epochs, in PyTorch as in heft.)
    #[allow(clippy::too_many_arguments)]
    pub fn new(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Result<Conv> {
        let conv = Conv::without_bias(gpu, rng, name, cin, cout, k, stride, pad)?;
        Ok(Conv { b: Some(zeros(gpu, &format!("{name}.bias"), cout)?), ..conv })
    }

    /// The same without a bias (a convolution followed by batch norm, as in ResNet).
    #[allow(clippy::too_many_arguments)]
    pub fn without_bias(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Result<Conv> {
        Ok(Conv { name: name.into(), w: he_normal(gpu, rng, &format!("{name}.weight"), &[cout, cin, k, k], cin * k * k)?, b: None, stride, pad, relu: false })
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        let w = tape.param(&self.w);
        let b = self.b.as_ref().map(|b| tape.param(b));
        F::conv2d(tape, x, &w, b.as_ref(), self.stride, self.pad, self.relu)
    }

    pub fn out_channels(&self) -> usize {
        self.w.value.shape()[0]
    }
}

pub struct Linear {
    pub name: String,
    pub w: Param,
    pub b: Option<Param>,
}

impl Linear {
    /// He normal weights, zero bias (as `Conv::new`).
    pub fn new(gpu: &Gpu, rng: &mut Rng, name: &str, fin: usize, fout: usize) -> Result<Linear> {
        Ok(Linear {
            name: name.into(),
            w: he_normal(gpu, rng, &format!("{name}.weight"), &[fout, fin], fin)?,
            b: Some(zeros(gpu, &format!("{name}.bias"), fout)?),
        })
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        let w = tape.param(&self.w);
        let b = self.b.as_ref().map(|b| tape.param(b));
        F::linear(tape, x, &w, b.as_ref())
    }
}

pub struct BatchNorm {
    pub name: String,
    pub gamma: Param,
    pub beta: Param,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub eps: f32,
    pub momentum: f32,
}

impl BatchNorm {
    /// Eval mode as a per-channel affine map y = scale·x + shift (running statistics): what
    /// folds into the layer before it (the export, the distillation teacher).
    pub fn eval_affine(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let (g, b) = (self.gamma.value.to_f32()?, self.beta.value.to_f32()?);
        let (m, v) = (self.running_mean.to_f32()?, self.running_var.to_f32()?);
        let scale: Vec<f32> = g.iter().zip(&v).map(|(g, v)| g / (v + self.eps).sqrt()).collect();
        let shift = b.iter().zip(&m).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        Ok((scale, shift))
    }

    pub fn new(gpu: &Gpu, name: &str, c: usize) -> Result<BatchNorm> {
        let full = |v| crate::ops::elementwise::full(gpu, &[c], v);
        Ok(BatchNorm {
            name: name.into(),
            gamma: Param::new(format!("{name}.weight"), ParamKind::Norm, full(1.0)?),
            beta: Param::new(format!("{name}.bias"), ParamKind::Norm, full(0.0)?),
            running_mean: full(0.0)?,
            running_var: full(1.0)?,
            eps: 1e-5,
            momentum: 0.1,
        })
    }

    /// Batch statistics (and a running-average update) in training, running statistics in eval.
    pub fn forward(&self, tape: &mut Tape, x: &Var, training: bool) -> Result<Var> {
        let (g, b) = (tape.param(&self.gamma), tape.param(&self.beta));
        F::batchnorm(tape, x, &g, &b, (&self.running_mean, &self.running_var), training, self.eps, self.momentum)
    }
}

/// What a pooling layer computes: the teacher's max pooling, the student's average pooling
/// over the same window, or global average pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max(Pool),
    Avg(Pool),
    GlobalAvg,
}

pub struct Pool2d {
    /// Position name, e.g. `features.2` (pools have no tensors; a student's BN after it is
    /// `<name>.bn`).
    pub name: String,
    pub kind: PoolKind,
}

impl Pool2d {
    pub fn new(name: &str, kind: PoolKind) -> Pool2d {
        Pool2d { name: name.into(), kind }
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        match self.kind {
            PoolKind::Max(p) => F::maxpool(tape, x, p),
            PoolKind::Avg(p) => F::avgpool(tape, x, AvgPool::Window(p)),
            PoolKind::GlobalAvg => F::avgpool(tape, x, AvgPool::Adaptive(1, 1)),
        }
    }
}

fn he_normal(gpu: &Gpu, rng: &mut Rng, name: &str, shape: &[usize], fan_in: usize) -> Result<Param> {
    let bytes = shape.iter().try_fold(4u64, |a, &d| a.checked_mul(d as u64)).unwrap_or(u64::MAX);
    if bytes > gpu.limits().max_buffer_size {
        return Err(crate::Error::TooLarge { op: "model", what: format!("{name} {shape:?}"), size: bytes, limit: gpu.limits().max_buffer_size, unit: "bytes" });
    }
    let std = (2.0 / fan_in as f32).sqrt();
    let data: Vec<f32> = (0..shape.iter().product()).map(|_| std * rng.normal()).collect();
    Ok(Param::new(name, ParamKind::Weight, Tensor::from_f32(gpu, &data, shape)?))
}

fn zeros(gpu: &Gpu, name: &str, n: usize) -> Result<Param> {
    Ok(Param::new(name, ParamKind::Bias, crate::ops::elementwise::full(gpu, &[n], 0.0)?))
}
