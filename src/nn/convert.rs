//! Teacher → HE-friendly student (the paper's step 2): copy the teacher's weights (and batch
//! norms), replace max-pooling by average pooling with the same window, insert BatchNorm where
//! the architecture wants it and the teacher has none (AlexNet: after each pooling layer;
//! SqueezeNet: after each feature convolution; ResNet, or a teacher trained with batch norm:
//! already there, copied), and turn every ReLU into a polynomial activation. Also
//! the replacement schedules (all at once, layer by layer, smooth).

use super::layers::*;
use super::model::{Arch, Model, ModelConfig, StudentConfig};
use super::rebuild::{rebuild, Mapping};
use crate::error::{Error, Result};
use crate::tape::{Param, ParamKind};
use crate::tensor::Tensor;
use crate::Gpu;

fn copy(p: &Param) -> Result<Param> {
    let mut q = Param::new(p.name.clone(), p.kind, p.value.deep_clone()?);
    q.frozen = p.frozen;
    Ok(q)
}

fn copy_conv(c: &Conv) -> Result<Conv> {
    Ok(Conv { name: c.name.clone(), w: copy(&c.w)?, b: c.b.as_ref().map(copy).transpose()?, stride: c.stride, pad: c.pad, relu: c.relu })
}

fn student_act(gpu: &Gpu, a: &Activation, cfg: &StudentConfig) -> Result<Activation> {
    let coef = |c: [f32; 3]| -> Result<Option<Param>> {
        Ok(Some(Param::new(format!("{}.coef", a.name), ParamKind::ActCoef, Tensor::from_f32(gpu, &c, &[3])?)))
    };
    let kind = if cfg.linear.contains(&a.name) { ActKind::Affine } else { cfg.act };
    let (coef, frozen) = match kind {
        ActKind::Relu => return Err(Error::Invalid("a student replaces ReLU: choose poly, square or approx-relu".into())),
        ActKind::Poly => (coef(cfg.init)?, false),
        ActKind::Square => (coef([0.0, 0.0, 1.0])?, true),
        ActKind::ApproxRelu => (coef(APPROX_RELU)?, true),
        ActKind::Affine => (coef([cfg.init[0], cfg.init[1], 0.0])?, false),
    };
    let mut coef = coef;
    if let Some(c) = coef.as_mut() {
        c.frozen = frozen;
    }
    Ok(Activation { name: a.name.clone(), kind, coef, ratio: 1.0 })
}

/// Where a student gets batch norms its teacher lacks.
#[derive(Clone, Copy, PartialEq)]
enum InsertBn {
    AfterPools,
    AfterFeatureConvs,
    Nowhere,
}

/// The one rule for a student's batch norms: insert them where the student wants them
/// (`cfg.batchnorm`) and the teacher has none; a teacher's own batch norms (ResNet-20's, or a
/// teacher built with `batchnorm`, which sit exactly where these would go and bear the same
/// names) are always copied with their trained statistics, never replaced, even with
/// `cfg.batchnorm` false (they cannot be dropped without changing what the teacher computes).
fn insert_bn(teacher: &ModelConfig, cfg: &StudentConfig) -> InsertBn {
    match teacher.arch {
        _ if !cfg.batchnorm || teacher.has_batchnorm() => InsertBn::Nowhere,
        Arch::Alexnet => InsertBn::AfterPools,
        Arch::Squeezenet10 | Arch::Squeezenet11 => InsertBn::AfterFeatureConvs,
        Arch::Resnet20 => InsertBn::Nowhere,
    }
}

/// The conversion, as a flow of shapes that builds the student's tree beside the teacher's.
struct Convert<'a> {
    gpu: Gpu,
    cfg: &'a StudentConfig,
    bn: InsertBn,
}

impl<'a> Mapping<'a> for Convert<'_> {
    fn map(&mut self, l: Leaf<'a>, next: &[usize], _: Option<&mut Layer>) -> Result<Vec<Layer>> {
        let bn_after = |name: &str| -> Result<Layer> { Ok(Layer::BatchNorm(BatchNorm::new(&self.gpu, &format!("{name}.bn"), next[1])?)) };
        let mut out = Vec::new();
        match l {
            Leaf::Conv(c) => {
                out.push(Layer::Conv(copy_conv(c)?));
                if self.bn == InsertBn::AfterFeatureConvs && c.name.starts_with("features") {
                    out.push(bn_after(&c.name)?);
                }
            }
            Leaf::Linear(l) => out.push(Layer::Linear(Linear { name: l.name.clone(), w: copy(&l.w)?, b: l.b.as_ref().map(copy).transpose()? })),
            Leaf::Act(a) => out.push(Layer::Act(student_act(&self.gpu, a, self.cfg)?)),
            Leaf::Pool(p) => {
                let kind = match p.kind {
                    PoolKind::Max(w) => PoolKind::Avg(w),
                    k => k,
                };
                out.push(Layer::Pool(Pool2d::new(&p.name, kind)));
                if self.bn == InsertBn::AfterPools && matches!(p.kind, PoolKind::Max(_)) {
                    out.push(bn_after(&p.name)?);
                }
            }
            Leaf::BatchNorm(b) => out.push(Layer::BatchNorm(copy_bn(b)?)),
            Leaf::Dropout(p) => out.push(Layer::Dropout(p)),
            Leaf::Flatten => out.push(Layer::Flatten),
        }
        Ok(out)
    }
}

fn copy_bn(b: &BatchNorm) -> Result<BatchNorm> {
    Ok(BatchNorm {
        name: b.name.clone(),
        gamma: copy(&b.gamma)?,
        beta: copy(&b.beta)?,
        running_mean: b.running_mean.deep_clone()?,
        running_var: b.running_var.deep_clone()?,
        eps: b.eps,
        momentum: b.momentum,
    })
}

/// The student of `teacher` (the teacher is left untouched).
pub fn to_student(teacher: &Model, cfg: &StudentConfig) -> Result<Model> {
    if teacher.config.student.is_some() {
        return Err(Error::Invalid("this model is already a student; convert its teacher instead".into()));
    }
    let gpu = teacher.params()[0].value.gpu().clone();
    let convert = Convert { gpu, cfg, bn: insert_bn(&teacher.config, cfg) };
    let root = rebuild(&teacher.root, teacher.in_shape(1), convert)?;
    let mut config = teacher.config.clone();
    config.student = Some(cfg.clone());
    let student = Model { config, root };
    super::linearise::check_names(&student, &cfg.linear)?;
    Ok(student)
}

/// When each activation switches from ReLU to its polynomial.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// Every activation is polynomial from the first epoch.
    AllAtOnce,
    /// From `start` on, one more activation (from the output towards the input) becomes
    /// polynomial every `every` epochs.
    LayerByLayer { start: usize, every: usize },
    /// From `start` on, one activation at a time (output first) blends ReLU→polynomial over
    /// `every` epochs: the k-th from the output has ratio (epoch − start − k·every + 1) / every
    /// inside its window, so it is fully polynomial in the window's last epoch. (IBM's code
    /// starts each window at ratio 0; here no epoch is spent at a ratio that changes nothing.)
    Smooth { start: usize, every: usize },
}

/// The schedules by name, as the command line (`--schedule`) and experiment files spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    All,
    Layer,
    Smooth,
}

/// What a student's activations become, as the command line (`--act`) and experiment files
/// spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StudentAct {
    /// Trainable c0 + c1·x + c2·x².
    Poly,
    /// Fixed x².
    Square,
    /// Fixed 0.000469841857369822·x² + 0.500000000000008·x (IBM's approx_relu).
    ApproxRelu,
}

impl From<StudentAct> for ActKind {
    fn from(a: StudentAct) -> ActKind {
        match a {
            StudentAct::Poly => ActKind::Poly,
            StudentAct::Square => ActKind::Square,
            StudentAct::ApproxRelu => ActKind::ApproxRelu,
        }
    }
}

impl Schedule {
    /// The `kind` schedule from epoch `start`, one activation every `every` epochs (both
    /// ignored by `All`).
    pub fn new(kind: ScheduleKind, start: usize, every: usize) -> Result<Schedule> {
        if every == 0 {
            return Err(Error::Invalid("every (epochs per activation) must be at least 1".into()));
        }
        Ok(match kind {
            ScheduleKind::All => Schedule::AllAtOnce,
            ScheduleKind::Layer => Schedule::LayerByLayer { start, every },
            ScheduleKind::Smooth => Schedule::Smooth { start, every },
        })
    }

    /// Blend ratio of each of `n` activations (input order) at `epoch` (counting from 0).
    pub fn ratios(&self, n: usize, epoch: usize) -> Vec<f32> {
        let (start, every, smooth) = match *self {
            Schedule::AllAtOnce => return vec![1.0; n],
            Schedule::LayerByLayer { start, every } => (start, every.max(1), false),
            Schedule::Smooth { start, every } => (start, every.max(1), true),
        };
        (0..n)
            .map(|i| {
                let k = n - 1 - i; // position counted from the output
                let begin = start + k * every;
                if epoch < begin {
                    0.0
                } else if smooth {
                    (((epoch - begin) + 1) as f32 / every as f32).min(1.0)
                } else {
                    1.0
                }
            })
            .collect()
    }

    /// First epoch at which every activation is fully polynomial.
    pub fn done_at(&self, n: usize) -> usize {
        match *self {
            Schedule::AllAtOnce => 0,
            Schedule::LayerByLayer { start, every } => start + n.saturating_sub(1) * every.max(1),
            Schedule::Smooth { start, every } => start + n * every.max(1) - 1,
        }
    }
}
