//! Models: AlexNet and SqueezeNet 1.0/1.1 as the paper's reference builds them (teacher: ReLU
//! and max-pooling), shape inference, the model summary, and the state dict (torchvision names).

use super::layers::*;
use crate::error::{Error, Result};
use crate::ops::avgpool::AvgPool;
use crate::ops::maxpool::Pool;
use crate::rng::Rng;
use crate::tape::{Param, Tape, Var};
use crate::tensor::Tensor;
use crate::Gpu;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    Alexnet,
    #[value(name = "squeezenet1_0")]
    #[serde(rename = "squeezenet1_0")]
    Squeezenet10,
    #[value(name = "squeezenet1_1")]
    #[serde(rename = "squeezenet1_1")]
    Squeezenet11,
}

/// How a student differs from its teacher (see `convert`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentConfig {
    pub act: ActKind,
    /// Initial [c0, c1, c2] of trainable polynomials.
    pub init: [f32; 3],
    /// BatchNorm after AlexNet's pooling layers or after SqueezeNet's feature convolutions.
    pub batchnorm: bool,
}

impl Default for StudentConfig {
    /// heft's defaults (train-student's): trainable polynomials from 0 + 0.5·x + 0.05·x², with BN.
    fn default() -> Self {
        StudentConfig { act: ActKind::Poly, init: [0.0, 0.5, 0.05], batchnorm: true }
    }
}

/// Everything needed to rebuild a model's layers (saved as JSON beside its weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub classes: usize,
    pub class_names: Vec<String>,
    pub in_channels: usize,
    /// Input height = width in pixels.
    pub input: usize,
    /// Channel multiplier (1 = torchvision's widths).
    pub width: f32,
    /// AlexNet hidden fully-connected size (torchvision: 4096).
    pub hidden: usize,
    /// AlexNet conv1 padding (torchvision 2; the paper's AlexNet-FHE 5).
    pub conv1_pad: usize,
    pub dropout: f32,
    /// None for a (ReLU) teacher.
    pub student: Option<StudentConfig>,
}

impl ModelConfig {
    pub fn new(arch: Arch, class_names: Vec<String>, in_channels: usize, input: usize) -> ModelConfig {
        ModelConfig {
            arch,
            classes: class_names.len(),
            class_names,
            in_channels,
            input,
            width: 1.0,
            hidden: 4096,
            conv1_pad: 5,
            dropout: 0.5,
            student: None,
        }
    }
}

pub struct Model {
    pub config: ModelConfig,
    pub layers: Vec<Layer>,
}

fn scaled(c: usize, width: f32) -> usize {
    ((c as f32 * width).round() as usize).max(1)
}

/// Output shape of one layer for an input of `s` (batch first).
pub fn out_shape(layer: &Layer, s: &[usize]) -> Result<Vec<usize>> {
    const OP: &str = "model";
    let spatial = |f: &dyn Fn(usize) -> Result<usize>| -> Result<Vec<usize>> { Ok(vec![s[0], s[1], f(s[2])?, f(s[3])?]) };
    let conv = |c: &Conv| -> Result<Vec<usize>> {
        let ws = c.w.value.shape();
        if s.len() != 4 || s[1] != ws[1] {
            return Err(Error::shape(OP, format!("{} expects {} channels, gets {s:?}", c.name, ws[1])));
        }
        let mut o = spatial(&|n| crate::ops::out_size(OP, n, ws[2], c.stride, c.pad))?;
        o[1] = ws[0];
        Ok(o)
    };
    Ok(match layer {
        Layer::Conv(c) => conv(c)?,
        Layer::Linear(l) => {
            let ws = l.w.value.shape();
            if s.len() != 2 || s[1] != ws[1] {
                return Err(Error::shape(OP, format!("{} expects {} features, gets {s:?}", l.name, ws[1])));
            }
            vec![s[0], ws[0]]
        }
        Layer::MaxPool(p) | Layer::AvgPool(AvgPool::Window(p)) => spatial(&|n| p.out(OP, n))?,
        Layer::AvgPool(AvgPool::Adaptive(h, w)) => vec![s[0], s[1], *h, *w],
        Layer::Flatten => vec![s[0], s[1..].iter().product()],
        Layer::Fire(f) => {
            let sq = conv(&f.squeeze)?;
            vec![sq[0], f.expand1.out_channels() + f.expand3.out_channels(), sq[2], sq[3]]
        }
        Layer::Act(_) | Layer::BatchNorm(_) | Layer::Dropout(_) => s.to_vec(),
    })
}

impl Model {
    /// A freshly initialised teacher (ReLU + max-pooling), seeded.
    pub fn teacher(gpu: &Gpu, config: ModelConfig, seed: u64) -> Result<Model> {
        if config.classes < 2 {
            return Err(Error::Invalid(format!("a classifier needs at least 2 classes, got {}", config.classes)));
        }
        if !(config.in_channels == 1 || config.in_channels == 3) {
            return Err(Error::Invalid(format!("input channels must be 1 or 3, got {}", config.in_channels)));
        }
        let c = &config;
        if !(16..=4096).contains(&c.input) || !(c.width > 0.0 && c.width <= 8.0) || !(1..=65536).contains(&c.hidden) || c.conv1_pad > 10 || !(0.0..1.0).contains(&c.dropout) {
            return Err(Error::Invalid(format!(
                "model settings out of range: input {} (16..4096 px), width {} (0..8], hidden {} (1..65536), conv1 padding {} (0..10), dropout {} [0, 1)",
                c.input, c.width, c.hidden, c.conv1_pad, c.dropout
            )));
        }
        let mut rng = Rng::new(seed);
        let layers = match config.arch {
            Arch::Alexnet => alexnet(gpu, &mut rng, &config)?,
            Arch::Squeezenet10 | Arch::Squeezenet11 => squeezenet(gpu, &mut rng, &config)?,
        };
        let model = Model { config, layers };
        model.shapes(1)?;
        Ok(model)
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let want = [self.config.in_channels, self.config.input, self.config.input];
        if x.shape().len() != 4 || x.shape()[1..] != want {
            return Err(Error::shape("model", format!("input {:?} does not match the model's [N, {}, {}, {}]", x.shape(), want[0], want[1], want[2])));
        }
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(tape, &h, ctx, i)?;
            if let Some(o) = ctx.outputs.as_mut() {
                o.push(h.clone());
            }
        }
        Ok(h)
    }

    /// Logits of a batch without recording gradients.
    pub fn infer(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward(&mut Tape::no_grad(), &Var::constant(x.clone()), &mut Ctx::eval())?.value)
    }

    /// Output shape after every layer for a batch of `n`.
    pub fn shapes(&self, n: usize) -> Result<Vec<Vec<usize>>> {
        let mut s = vec![n, self.config.in_channels, self.config.input, self.config.input];
        let mut out = Vec::new();
        for l in &self.layers {
            s = out_shape(l, &s)?;
            out.push(s.clone());
        }
        Ok(out)
    }

    pub fn params(&self) -> Vec<&Param> {
        let mut out = Vec::new();
        for l in &self.layers {
            match l {
                Layer::Conv(c) => out.extend([Some(&c.w), c.b.as_ref()].into_iter().flatten()),
                Layer::Linear(c) => out.extend([Some(&c.w), c.b.as_ref()].into_iter().flatten()),
                Layer::Act(a) => out.extend(a.coef.as_ref()),
                Layer::BatchNorm(b) => out.extend([&b.gamma, &b.beta]),
                Layer::Fire(f) => {
                    for (c, a) in [(&f.squeeze, &f.squeeze_act), (&f.expand1, &f.expand1_act), (&f.expand3, &f.expand3_act)] {
                        out.extend([Some(&c.w), c.b.as_ref(), a.coef.as_ref()].into_iter().flatten());
                    }
                    out.extend(f.bn.iter().flat_map(|bns| bns.iter().flat_map(|b| [&b.gamma, &b.beta])));
                }
                _ => {}
            }
        }
        out
    }

    /// Every batch norm of the model, in order.
    pub fn batchnorms(&self) -> Vec<&BatchNorm> {
        self.layers
            .iter()
            .flat_map(|l| match l {
                Layer::BatchNorm(b) => vec![b],
                Layer::Fire(f) => f.bn.iter().flat_map(|bns| bns.iter()).collect(),
                _ => vec![],
            })
            .collect()
    }

    /// Every named tensor of the state dict: parameters and batch-norm running statistics.
    pub fn state(&self) -> Vec<(String, &Tensor)> {
        let mut out: Vec<(String, &Tensor)> = self.params().into_iter().map(|p| (p.name.clone(), &p.value)).collect();
        for b in self.batchnorms() {
            out.push((format!("{}.running_mean", b.name), &b.running_mean));
            out.push((format!("{}.running_var", b.name), &b.running_var));
        }
        out
    }

    pub fn activations(&self) -> Vec<&Activation> {
        self.layers
            .iter()
            .flat_map(|l| match l {
                Layer::Act(a) => vec![a],
                Layer::Fire(f) => vec![&f.squeeze_act, &f.expand1_act, &f.expand3_act],
                _ => vec![],
            })
            .collect()
    }

    pub fn activations_mut(&mut self) -> Vec<&mut Activation> {
        self.layers
            .iter_mut()
            .flat_map(|l| match l {
                Layer::Act(a) => vec![a],
                Layer::Fire(f) => {
                    let f = &mut **f;
                    vec![&mut f.squeeze_act, &mut f.expand1_act, &mut f.expand3_act]
                }
                _ => vec![],
            })
            .collect()
    }

    /// Every polynomial activation at ratio 1 (the student as deployed under HE).
    pub fn finish_transition(&mut self) {
        for a in self.activations_mut() {
            if a.coef.is_some() {
                a.ratio = 1.0;
            }
        }
    }

    pub fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.value.numel()).sum()
    }
}

fn alexnet(gpu: &Gpu, rng: &mut Rng, cfg: &ModelConfig) -> Result<Vec<Layer>> {
    let w = |c| scaled(c, cfg.width);
    let (c1, c2, c3, c4, c5) = (w(64), w(192), w(384), w(256), w(256));
    let pool = || Layer::MaxPool(Pool::new(3, 2));
    let mut layers = vec![
        Layer::Conv(Conv::new(gpu, rng, "features.0", cfg.in_channels, c1, 11, 4, cfg.conv1_pad)?),
        Layer::Act(Activation::relu("features.1")),
        pool(),
        Layer::Conv(Conv::new(gpu, rng, "features.3", c1, c2, 5, 1, 2)?),
        Layer::Act(Activation::relu("features.4")),
        pool(),
        Layer::Conv(Conv::new(gpu, rng, "features.6", c2, c3, 3, 1, 1)?),
        Layer::Act(Activation::relu("features.7")),
        Layer::Conv(Conv::new(gpu, rng, "features.8", c3, c4, 3, 1, 1)?),
        Layer::Act(Activation::relu("features.9")),
        Layer::Conv(Conv::new(gpu, rng, "features.10", c4, c5, 3, 1, 1)?),
        Layer::Act(Activation::relu("features.11")),
        pool(),
    ];
    // classifier input: what the features give at this input size (256·6·6 at 224 px)
    let mut s = vec![1, cfg.in_channels, cfg.input, cfg.input];
    for l in &layers {
        s = out_shape(l, &s).map_err(|e| Error::Invalid(format!("AlexNet cannot take {} px input: {e}", cfg.input)))?;
    }
    let flat: usize = s[1..].iter().product();
    layers.extend([
        Layer::Flatten,
        Layer::Dropout(cfg.dropout),
        Layer::Linear(Linear::new(gpu, rng, "classifier.1", flat, cfg.hidden)?),
        Layer::Act(Activation::relu("classifier.2")),
        Layer::Dropout(cfg.dropout),
        Layer::Linear(Linear::new(gpu, rng, "classifier.4", cfg.hidden, cfg.hidden)?),
        Layer::Act(Activation::relu("classifier.5")),
        Layer::Linear(small_head(Linear::new(gpu, rng, "classifier.6", cfg.hidden, cfg.classes)?, rng)?),
    ]);
    Ok(layers)
}

/// The classifier head starts small, N(0, 0.01²) (torchvision's SqueezeNet head init): He
/// init there gives logits in the hundreds at 224 px and a first loss of ~150.
fn reinit_small(w: Param, rng: &mut Rng) -> Result<Param> {
    let data: Vec<f32> = (0..w.value.numel()).map(|_| 0.01 * rng.normal()).collect();
    w.value.write_f32(&data)?;
    Ok(w)
}

fn small_head(mut l: Linear, rng: &mut Rng) -> Result<Linear> {
    l.w = reinit_small(l.w, rng)?;
    Ok(l)
}

fn fire(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, sq: usize, e1: usize, e3: usize) -> Result<Layer> {
    Ok(Layer::Fire(Box::new(Fire {
        squeeze: Conv::new(gpu, rng, &format!("{name}.squeeze"), cin, sq, 1, 1, 0)?,
        squeeze_act: Activation::relu(&format!("{name}.squeeze_activation")),
        expand1: Conv::new(gpu, rng, &format!("{name}.expand1x1"), sq, e1, 1, 1, 0)?,
        expand1_act: Activation::relu(&format!("{name}.expand1x1_activation")),
        expand3: Conv::new(gpu, rng, &format!("{name}.expand3x3"), sq, e3, 3, 1, 1)?,
        expand3_act: Activation::relu(&format!("{name}.expand3x3_activation")),
        bn: None,
    })))
}

fn squeezenet(gpu: &Gpu, rng: &mut Rng, cfg: &ModelConfig) -> Result<Vec<Layer>> {
    let w = |c| scaled(c, cfg.width);
    let pool = || Layer::MaxPool(Pool { kernel: 3, stride: 2, pad: 0, ceil: true });
    // (index, in, squeeze, expand) of each fire module, and where the pools sit
    let (conv1, fires, pools): (Conv, Vec<(usize, usize, usize, usize)>, Vec<usize>) = if cfg.arch == Arch::Squeezenet10 {
        (
            Conv::new(gpu, rng, "features.0", cfg.in_channels, w(96), 7, 2, 0)?,
            vec![(3, 96, 16, 64), (4, 128, 16, 64), (5, 128, 32, 128), (7, 256, 32, 128), (8, 256, 48, 192), (9, 384, 48, 192), (10, 384, 64, 256), (12, 512, 64, 256)],
            vec![2, 6, 11],
        )
    } else {
        (
            Conv::new(gpu, rng, "features.0", cfg.in_channels, w(64), 3, 2, 0)?,
            vec![(3, 64, 16, 64), (4, 128, 16, 64), (6, 128, 32, 128), (7, 256, 32, 128), (9, 256, 48, 192), (10, 384, 48, 192), (11, 384, 64, 256), (12, 512, 64, 256)],
            vec![2, 5, 8],
        )
    };
    // channels actually produced so far (rounding of the width multiplier can make
    // 2·w(e) differ from w(2e))
    let mut ch = conv1.out_channels();
    let mut layers = vec![Layer::Conv(conv1), Layer::Act(Activation::relu("features.1"))];
    let mut fires = fires.into_iter();
    for i in 2..=12 {
        if pools.contains(&i) {
            layers.push(pool());
        } else if let Some((idx, _, sq, e)) = fires.next() {
            layers.push(fire(gpu, rng, &format!("features.{idx}"), ch, w(sq), w(e), w(e))?);
            ch = 2 * w(e);
        }
    }
    let mut head = Conv::new(gpu, rng, "classifier.1", ch, cfg.classes, 1, 1, 0)?;
    head.w = reinit_small(head.w, rng)?;
    layers.extend([
        Layer::Dropout(cfg.dropout),
        Layer::Conv(head),
        Layer::Act(Activation::relu("classifier.2")),
        Layer::AvgPool(AvgPool::Adaptive(1, 1)),
        Layer::Flatten,
    ]);
    Ok(layers)
}
