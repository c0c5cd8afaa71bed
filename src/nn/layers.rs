//! The layers a model is made of. A model is a flat list of layers (SqueezeNet's fire modules
//! are one layer each), named like the torchvision state dicts so weights move between heft and
//! PyTorch. The same list describes the ReLU teacher and the HE-friendly student.

use crate::error::Result;
use crate::nn::functional as F;
use crate::ops::avgpool::AvgPool;
use crate::ops::maxpool::Pool;
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
                F::quad(tape, x, &c, self.ratio)
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
}

impl Conv {
    /// He (Kaiming) normal initialisation for ReLU networks, N(0, 2/fan_in), zero bias.
    /// (PyTorch's default U(±1/sqrt(fan_in)) shrinks the signal by ~√6 per ReLU layer: a
    /// from-scratch AlexNet then sits at chance for tens of epochs, in PyTorch as in heft.)
    #[allow(clippy::too_many_arguments)]
    pub fn new(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Result<Conv> {
        Ok(Conv {
            name: name.into(),
            w: he_normal(gpu, rng, &format!("{name}.weight"), &[cout, cin, k, k], cin * k * k)?,
            b: Some(zeros(gpu, &format!("{name}.bias"), cout)?),
            stride,
            pad,
        })
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var) -> Result<Var> {
        let w = tape.param(&self.w);
        let b = self.b.as_ref().map(|b| tape.param(b));
        F::conv2d(tape, x, &w, b.as_ref(), self.stride, self.pad)
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
}

/// SqueezeNet's fire module: squeeze 1x1 → act, then expand 1x1 → act ‖ expand 3x3 → act.
/// A student may have a BatchNorm after each convolution (`bn`: squeeze, expand1, expand3).
pub struct Fire {
    pub squeeze: Conv,
    pub squeeze_act: Activation,
    pub expand1: Conv,
    pub expand1_act: Activation,
    pub expand3: Conv,
    pub expand3_act: Activation,
    pub bn: Option<Box<[BatchNorm; 3]>>,
}

pub enum Layer {
    Conv(Conv),
    Linear(Linear),
    Act(Activation),
    MaxPool(Pool),
    AvgPool(AvgPool),
    BatchNorm(BatchNorm),
    Dropout(f32),
    Flatten,
    Fire(Box<Fire>),
}

/// How a forward pass runs.
pub struct Ctx {
    pub training: bool,
    /// Seed of this step's dropout masks.
    pub seed: u32,
    /// When set, the input of every activation is kept here (range statistics, range loss).
    pub act_inputs: Option<Vec<(String, Var)>>,
    /// When set, the output of every layer is kept here (largest intermediate value).
    pub outputs: Option<Vec<Var>>,
}

impl Ctx {
    pub fn eval() -> Ctx {
        Ctx { training: false, seed: 0, act_inputs: None, outputs: None }
    }
    pub fn train(seed: u32) -> Ctx {
        Ctx { training: true, seed, act_inputs: None, outputs: None }
    }
}

fn batchnorm(tape: &mut Tape, bn: &BatchNorm, x: &Var, ctx: &Ctx) -> Result<Var> {
    let (g, b) = (tape.param(&bn.gamma), tape.param(&bn.beta));
    F::batchnorm(tape, x, &g, &b, (&bn.running_mean, &bn.running_var), ctx.training, bn.eps, bn.momentum)
}

fn act(tape: &mut Tape, a: &Activation, x: &Var, ctx: &mut Ctx) -> Result<Var> {
    if let Some(v) = ctx.act_inputs.as_mut() {
        v.push((a.name.clone(), x.clone()));
    }
    a.forward(tape, x)
}

impl Layer {
    pub fn forward(&self, tape: &mut Tape, x: &Var, ctx: &mut Ctx, index: usize) -> Result<Var> {
        match self {
            Layer::Conv(c) => c.forward(tape, x),
            Layer::Linear(l) => {
                let w = tape.param(&l.w);
                let b = l.b.as_ref().map(|b| tape.param(b));
                F::linear(tape, x, &w, b.as_ref())
            }
            Layer::Act(a) => act(tape, a, x, ctx),
            Layer::MaxPool(p) => F::maxpool(tape, x, *p),
            Layer::AvgPool(p) => F::avgpool(tape, x, *p),
            Layer::BatchNorm(bn) => batchnorm(tape, bn, x, ctx),
            Layer::Dropout(p) if ctx.training && *p > 0.0 => {
                F::dropout(tape, x, *p, ctx.seed.wrapping_mul(2654435761).wrapping_add(index as u32))
            }
            Layer::Dropout(_) => Ok(x.clone()),
            Layer::Flatten => F::flatten(tape, x),
            Layer::Fire(f) => {
                let mut branch = |conv: &Conv, a: &Activation, i: usize, x: &Var| -> Result<Var> {
                    let mut h = conv.forward(tape, x)?;
                    if let Some(bn) = &f.bn {
                        h = batchnorm(tape, &bn[i], &h, ctx)?;
                    }
                    act(tape, a, &h, ctx)
                };
                let s = branch(&f.squeeze, &f.squeeze_act, 0, x)?;
                let e1 = branch(&f.expand1, &f.expand1_act, 1, &s)?;
                let e3 = branch(&f.expand3, &f.expand3_act, 2, &s)?;
                F::concat(tape, &[&e1, &e3])
            }
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
