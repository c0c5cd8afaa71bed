//! Teacher → HE-friendly student (the paper's step 2): copy the teacher's weights, replace
//! max-pooling by average pooling with the same window, insert BatchNorm (AlexNet: after each
//! pooling layer; SqueezeNet: after each convolution), and turn every ReLU into a polynomial
//! activation. Also the replacement schedules (all at once, layer by layer, smooth).

use super::layers::*;
use super::model::{Arch, Model, StudentConfig};
use crate::error::{Error, Result};
use crate::ops::avgpool::AvgPool;
use crate::tape::{Param, ParamKind};
use crate::tensor::Tensor;
use crate::Gpu;

fn copy(p: &Param) -> Result<Param> {
    let mut q = Param::new(p.name.clone(), p.kind, p.value.deep_clone()?);
    q.frozen = p.frozen;
    Ok(q)
}

fn copy_conv(c: &Conv) -> Result<Conv> {
    Ok(Conv { name: c.name.clone(), w: copy(&c.w)?, b: c.b.as_ref().map(copy).transpose()?, stride: c.stride, pad: c.pad })
}

fn student_act(gpu: &Gpu, a: &Activation, cfg: &StudentConfig) -> Result<Activation> {
    let coef = |c: [f32; 3]| -> Result<Option<Param>> {
        Ok(Some(Param::new(format!("{}.coef", a.name), ParamKind::ActCoef, Tensor::from_f32(gpu, &c, &[3])?)))
    };
    let (coef, frozen) = match cfg.act {
        ActKind::Relu => return Err(Error::Invalid("a student replaces ReLU: choose poly, square or approx-relu".into())),
        ActKind::Poly => (coef(cfg.init)?, false),
        ActKind::Square => (coef([0.0, 0.0, 1.0])?, true),
        ActKind::ApproxRelu => (coef(APPROX_RELU)?, true),
    };
    let mut coef = coef;
    if let Some(c) = coef.as_mut() {
        c.frozen = frozen;
    }
    Ok(Activation { name: a.name.clone(), kind: cfg.act, coef, ratio: 1.0 })
}

fn bn_after(gpu: &Gpu, name: &str, channels: usize) -> Result<Layer> {
    Ok(Layer::BatchNorm(BatchNorm::new(gpu, &format!("{name}.bn"), channels)?))
}

/// The student of `teacher` (the teacher is left untouched).
pub fn to_student(teacher: &Model, cfg: &StudentConfig) -> Result<Model> {
    if teacher.config.student.is_some() {
        return Err(Error::Invalid("this model is already a student; convert its teacher instead".into()));
    }
    let gpu = teacher.params()[0].value.gpu().clone();
    let shapes = teacher.shapes(1)?;
    let squeeze = teacher.config.arch != Arch::Alexnet;
    let mut layers = Vec::new();
    for (i, (layer, shape)) in teacher.layers.iter().zip(&shapes).enumerate() {
        let channels = shape.get(1).copied().unwrap_or(0);
        match layer {
            Layer::Conv(c) => {
                layers.push(Layer::Conv(copy_conv(c)?));
                // SqueezeNet-FHE: BN after every convolution (not the classifier head)
                if cfg.batchnorm && squeeze && c.name.starts_with("features") {
                    layers.push(bn_after(&gpu, &c.name, channels)?);
                }
            }
            Layer::Linear(l) => layers.push(Layer::Linear(Linear { name: l.name.clone(), w: copy(&l.w)?, b: l.b.as_ref().map(copy).transpose()? })),
            Layer::Act(a) => layers.push(Layer::Act(student_act(&gpu, a, cfg)?)),
            Layer::MaxPool(p) => {
                layers.push(Layer::AvgPool(AvgPool::Window(*p)));
                // AlexNet-FHE: BN after each of the three pooling layers
                if cfg.batchnorm && !squeeze {
                    layers.push(bn_after(&gpu, &format!("features.{i}"), channels)?);
                }
            }
            Layer::AvgPool(p) => layers.push(Layer::AvgPool(*p)),
            Layer::BatchNorm(_) => return Err(Error::Invalid("teachers with batch norm are not supported".into())),
            Layer::Dropout(p) => layers.push(Layer::Dropout(*p)),
            Layer::Flatten => layers.push(Layer::Flatten),
            Layer::Fire(f) => {
                let conv = |c: &Conv, a: &Activation| -> Result<(Conv, Activation)> { Ok((copy_conv(c)?, student_act(&gpu, a, cfg)?)) };
                let (squeeze_c, squeeze_act) = conv(&f.squeeze, &f.squeeze_act)?;
                let (expand1, expand1_act) = conv(&f.expand1, &f.expand1_act)?;
                let (expand3, expand3_act) = conv(&f.expand3, &f.expand3_act)?;
                let bn = if cfg.batchnorm {
                    let bn = |c: &Conv| BatchNorm::new(&gpu, &format!("{}.bn", c.name), c.out_channels());
                    Some(Box::new([bn(&squeeze_c)?, bn(&expand1)?, bn(&expand3)?]))
                } else {
                    None
                };
                let fire = Fire { squeeze: squeeze_c, squeeze_act, expand1, expand1_act, expand3, expand3_act, bn };
                layers.push(Layer::Fire(Box::new(fire)));
            }
        }
    }
    let mut config = teacher.config.clone();
    config.student = Some(cfg.clone());
    Ok(Model { config, layers })
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

impl Schedule {
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
