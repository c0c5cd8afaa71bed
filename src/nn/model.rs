//! A model: its configuration (saved beside its weights), its layer tree, and what is read off
//! the tree (parameters, batch norms, activations, the state dict with torchvision names). The
//! architectures themselves are built in `alexnet`, `squeezenet` and `resnet`.

use super::layers::*;
use crate::error::{Error, Result};
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
    /// He et al.'s CIFAR ResNet-20 (32×32 input; the encrypted-inference literature's
    /// reference network).
    #[value(name = "resnet20")]
    #[serde(rename = "resnet20")]
    Resnet20,
}

/// How a student differs from its teacher (see `convert`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentConfig {
    pub act: ActKind,
    /// Initial [c0, c1, c2] of trainable polynomials.
    pub init: [f32; 3],
    /// BatchNorm after AlexNet's pooling layers or after SqueezeNet's feature convolutions.
    pub batchnorm: bool,
    /// Activations (by name, e.g. `features.1`) that are linearised: trainable c0 + c1·x with no
    /// x² term (`ActKind::Affine`), which cost no CKKS level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linear: Vec<String>,
}

impl Default for StudentConfig {
    /// heft's defaults (train-student's): trainable polynomials from 0 + 0.5·x + 0.05·x², with BN.
    fn default() -> Self {
        StudentConfig { act: ActKind::Poly, init: [0.0, 0.5, 0.05], batchnorm: true, linear: vec![] }
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
    /// The teacher has BatchNorm where its HE-friendly student needs one (AlexNet: after each
    /// max pool; SqueezeNet: after every feature convolution), named as the student's
    /// (`<layer>.bn`), so the conversion copies them. ResNet-20 always has batch norm. Absent
    /// (false) in older configs and left out of the JSON when false, so their fingerprints and
    /// tuning keys stay as they were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batchnorm: bool,
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
            batchnorm: false,
            student: None,
        }
    }

    /// Whether the teacher has batch norms (its own `batchnorm`, or an architecture that always
    /// has them).
    pub fn has_batchnorm(&self) -> bool {
        self.batchnorm || self.arch == Arch::Resnet20
    }
}

pub struct Model {
    pub config: ModelConfig,
    /// The layer tree (a `Block`).
    pub root: Layer,
}

/// `c` channels scaled by the width multiplier, at least 1.
pub(crate) fn scaled(c: usize, width: f32) -> usize {
    ((c as f32 * width).round() as usize).max(1)
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
        let in_range = (16..=4096).contains(&c.input)
            && c.width > 0.0
            && c.width <= 8.0
            && (1..=65536).contains(&c.hidden)
            && c.conv1_pad <= 10
            && (0.0..1.0).contains(&c.dropout);
        if !in_range {
            return Err(Error::Invalid(format!(
                "model settings out of range: input {} (16..4096 px), width {} (0..8], hidden {} (1..65536), conv1 padding {} (0..10), dropout {} [0, 1)",
                c.input, c.width, c.hidden, c.conv1_pad, c.dropout
            )));
        }
        if c.batchnorm && c.arch == Arch::Resnet20 {
            return Err(Error::Invalid("ResNet-20 always has BatchNorm after every convolution; batchnorm (--batchnorm) is for AlexNet and SqueezeNet".into()));
        }
        let mut rng = Rng::new(seed);
        let root = match config.arch {
            Arch::Alexnet => super::alexnet::build(gpu, &mut rng, &config)?,
            Arch::Squeezenet10 | Arch::Squeezenet11 => super::squeezenet::build(gpu, &mut rng, &config)?,
            Arch::Resnet20 => super::resnet::build(gpu, &mut rng, &config)?,
        };
        let model = Model { config, root };
        model.out_shape(1)?;
        Ok(model)
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let want = [self.config.in_channels, self.config.input, self.config.input];
        if x.shape().len() != 4 || x.shape()[1..] != want {
            return Err(Error::shape("model", format!("input {:?} does not match the model's [N, {}, {}, {}]", x.shape(), want[0], want[1], want[2])));
        }
        self.root.forward(tape, x, ctx)
    }

    /// Logits of a batch without recording gradients.
    pub fn infer(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward(&mut Tape::no_grad(), &Var::constant(x.clone()), &mut Ctx::eval())?.value)
    }

    /// Shape of the model's input for a batch of `n`.
    pub fn in_shape(&self, n: usize) -> Vec<usize> {
        vec![n, self.config.in_channels, self.config.input, self.config.input]
    }

    /// Shape of the logits for a batch of `n` (checks that every layer fits the next).
    pub fn out_shape(&self, n: usize) -> Result<Vec<usize>> {
        self.root.out_shape(&self.in_shape(n))
    }

    /// Every leaf layer, in execution order.
    pub fn leaves(&self) -> Vec<Leaf<'_>> {
        self.root.leaves()
    }

    pub fn params(&self) -> Vec<&Param> {
        self.leaves().into_iter().flat_map(Leaf::params).collect()
    }

    /// Every trainable tensor, mutably, in the order of `params`.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut leaves = Vec::new();
        self.root.leaves_mut(&mut leaves);
        let mut out = Vec::new();
        for leaf in leaves {
            match leaf {
                Layer::Conv(c) => out.extend([Some(&mut c.w), c.b.as_mut()].into_iter().flatten()),
                Layer::Linear(l) => out.extend([Some(&mut l.w), l.b.as_mut()].into_iter().flatten()),
                Layer::Act(a) => out.extend(a.coef.as_mut()),
                Layer::BatchNorm(b) => out.extend([&mut b.gamma, &mut b.beta]),
                _ => {}
            }
        }
        out
    }

    /// Every batch norm of the model, in order.
    pub fn batchnorms(&self) -> Vec<&BatchNorm> {
        self.leaves().into_iter().filter_map(|l| if let Leaf::BatchNorm(b) = l { Some(b) } else { None }).collect()
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
        self.leaves().into_iter().filter_map(|l| if let Leaf::Act(a) = l { Some(a) } else { None }).collect()
    }

    pub fn activations_mut(&mut self) -> Vec<&mut Activation> {
        let mut leaves = Vec::new();
        self.root.leaves_mut(&mut leaves);
        leaves.into_iter().filter_map(|l| if let Layer::Act(a) = l { Some(a) } else { None }).collect()
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


/// The classifier head starts small, N(0, 0.01²) (torchvision's SqueezeNet head init): He
/// init there gives logits in the hundreds at 224 px and a first loss of ~150.
pub(crate) fn small_head(w: Param, rng: &mut Rng) -> Result<Param> {
    let data: Vec<f32> = (0..w.value.numel()).map(|_| 0.01 * rng.normal()).collect();
    w.value.write_f32(&data)?;
    Ok(w)
}
