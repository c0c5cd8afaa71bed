//! The frozen teacher as distillation runs it: each batch norm right after a convolution is
//! folded into that convolution, in eval mode (running statistics, as the teacher runs):
//! y = s·(W·x + b − μ) + β = (s·W)·x + (s·(b − μ) + β) per output channel, s = γ/√(σ² + ε);
//! and a ReLU right after a convolution (after that fold) is computed in the convolution's own
//! pass (`Conv::relu`). Its forward pass in every distillation step then has one pass fewer per
//! such batch norm (SqueezeNet 1.1 with batch norm: 25; ResNet-20: 21) and per such ReLU
//! (SqueezeNet 1.1: 26; ResNet-20: 10; AlexNet: 5), and computes the same logits up to f32
//! rounding. The other layers share the teacher's tensors; nothing of it is trained.

use super::layers::{ActKind, Conv, Layer, Leaf, Linear};
use super::model::Model;
use super::rebuild::{rebuild, Mapping};
use crate::error::Result;
use crate::he::merge::Weights;
use crate::tape::{Param, ParamKind};
use crate::tensor::Tensor;

/// A frozen parameter on the same tensor.
fn share(p: &Param) -> Param {
    let mut q = Param::new(p.name.clone(), p.kind, p.value.clone());
    q.frozen = true;
    q
}

struct Fold;

impl<'a> Mapping<'a> for Fold {
    fn map(&mut self, leaf: Leaf<'a>, _: &[usize], before: Option<&mut Layer>) -> Result<Vec<Layer>> {
        match (leaf, before) {
            (Leaf::BatchNorm(bn), Some(Layer::Conv(c))) if !c.relu => {
                let mut w = Weights::conv(c)?;
                let (scale, shift) = bn.eval_affine()?;
                w.then(&bn.name, &scale, &shift)?;
                let gpu = c.w.value.gpu().clone();
                let new = |name: String, kind, values: &[f32], shape: &[usize]| -> Result<Param> {
                    Ok(share(&Param::new(name, kind, Tensor::from_f32(&gpu, values, shape)?)))
                };
                c.w = new(c.w.name.clone(), ParamKind::Weight, &w.w, &w.dims)?;
                c.b = Some(new(format!("{}.bias", c.name), ParamKind::Bias, &w.b, &[w.b.len()])?);
                return Ok(vec![]);
            }
            (Leaf::Act(a), Some(Layer::Conv(c))) if a.kind == ActKind::Relu && a.coef.is_none() && !c.relu => {
                c.relu = true;
                return Ok(vec![]);
            }
            _ => {}
        }
        Ok(vec![match leaf {
            Leaf::Conv(c) => Layer::Conv(Conv { name: c.name.clone(), w: share(&c.w), b: c.b.as_ref().map(share), stride: c.stride, pad: c.pad, relu: c.relu }),
            Leaf::Linear(l) => Layer::Linear(Linear { name: l.name.clone(), w: share(&l.w), b: l.b.as_ref().map(share) }),
            Leaf::Act(a) => Layer::Act(super::layers::Activation { name: a.name.clone(), kind: a.kind, coef: a.coef.as_ref().map(share), ratio: a.ratio }),
            Leaf::Pool(p) => Layer::Pool(super::layers::Pool2d::new(&p.name, p.kind)),
            Leaf::BatchNorm(b) => Layer::BatchNorm(super::layers::BatchNorm {
                name: b.name.clone(),
                gamma: share(&b.gamma),
                beta: share(&b.beta),
                running_mean: b.running_mean.clone(),
                running_var: b.running_var.clone(),
                eps: b.eps,
                momentum: b.momentum,
            }),
            Leaf::Dropout(p) => Layer::Dropout(p),
            Leaf::Flatten => Layer::Flatten,
        }])
    }
}

/// `teacher` for distillation (see the module comment); `teacher` itself is left as it is.
pub fn for_distillation(teacher: &Model) -> Result<Model> {
    let root = rebuild(&teacher.root, teacher.in_shape(1), Fold)?;
    Ok(Model { config: teacher.config.clone(), root })
}
