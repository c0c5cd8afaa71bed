//! Evaluation: accuracy, per-class metrics, mean cross-entropy and the observed input range of
//! every activation of a model on a dataset (eval mode, no gradients).

use super::data::{class_weights, Data};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::layers::Ctx;
use crate::nn::model::Model;
use crate::report::metrics::{Confusion, Summary};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use serde::Serialize;

/// Observed input range of one activation layer.
#[derive(Clone, Debug, Serialize)]
pub struct ActRange {
    pub name: String,
    pub min: f32,
    pub max: f32,
}

/// Result of evaluating a model on a dataset.
pub struct Eval {
    pub summary: Summary,
    pub loss: f64,
    pub ranges: Vec<ActRange>,
}

/// Accuracy, per-class metrics, mean CE and activation input ranges of `model` on `ds`.
pub fn evaluate(model: &Model, data: &Data, ds: &Dataset, batch: usize) -> Result<Eval> {
    let gpu = model.params()[0].value.gpu().clone();
    let weights = class_weights(&gpu, ds, false)?;
    let mut conf = Confusion::new(&model.config.class_names);
    let mut ranges: Vec<ActRange> = Vec::new();
    let (mut loss_sum, mut n) = (0.0f64, 0usize);
    for b in data.loader(ds, model, batch, None) {
        let b = b?;
        let x = Tensor::from_f32(&gpu, &b.x, &[b.n, model.config.in_channels, model.config.input, model.config.input])?;
        let mut ctx = Ctx { act_inputs: Some(Vec::new()), ..Ctx::eval() };
        let mut tape = Tape::no_grad();
        let logits = model.forward(&mut tape, &Var::constant(x), &mut ctx)?;
        let labels = crate::ops::cross_entropy::labels(&gpu, &b.labels, model.config.classes)?;
        let (loss, _) = crate::ops::cross_entropy::forward(&logits.value, &labels, &weights)?;
        let mms: Vec<(String, Tensor)> = ctx.act_inputs.unwrap_or_default().into_iter().map(|(name, v)| Ok((name, crate::ops::range::minmax(&v.value)?))).collect::<Result<_>>()?;
        conf.add_batch(&b.labels, &logits.value.to_f32()?, model.config.classes)?;
        loss_sum += loss.to_f32()?[0] as f64 * b.n as f64;
        n += b.n;
        for (i, (name, mm)) in mms.into_iter().enumerate() {
            let mm = mm.to_f32()?;
            match ranges.get_mut(i) {
                Some(r) => {
                    r.max = r.max.max(mm[0]);
                    r.min = r.min.min(mm[1]);
                }
                None => ranges.push(ActRange { name, max: mm[0], min: mm[1] }),
            }
        }
    }
    if n == 0 {
        return Err(Error::Invalid("evaluation set is empty (or every image in it was unreadable)".into()));
    }
    Ok(Eval { summary: conf.summary(), loss: loss_sum / n as f64, ranges })
}

