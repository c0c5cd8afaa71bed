//! Evaluation: accuracy, per-class metrics, mean cross-entropy, the observed input range of
//! every activation and each image's peak |activation input| of a model on a dataset (eval
//! mode, no gradients; the pass is `nn::eval::forward_batches`).

use super::data::{class_weights, Data};
use crate::data::Dataset;
use crate::error::{Error, Result};
pub use crate::nn::eval::{ActRange, Peak};
use crate::nn::eval::{forward_batches, Keep};
use crate::nn::model::Model;
use crate::report::metrics::{Confusion, Summary};

/// Result of evaluating a model on a dataset.
pub struct Eval {
    pub summary: Summary,
    pub loss: f64,
    pub ranges: Vec<ActRange>,
    /// Each image's largest |activation input| (`nn::eval::Peak`), in dataset order.
    pub peaks: Vec<Peak>,
}

/// Accuracy, per-class metrics, mean CE and activation input ranges of `model` on `ds`.
pub fn evaluate(model: &Model, data: &Data, ds: &Dataset, batch: usize) -> Result<Eval> {
    let gpu = model.params()[0].value.gpu().clone();
    let weights = class_weights(&gpu, ds, false)?;
    let classes = model.config.classes;
    let mut conf = Confusion::new(&model.config.class_names);
    let mut loss_sum = 0.0f64;
    let keep = Keep { act_inputs: true, outputs: false };
    let pass = forward_batches(model, data.loader(ds, model, batch, None), keep, |s| {
        let labels = crate::ops::cross_entropy::labels(&gpu, &s.batch.labels, classes)?;
        let (loss, _) = crate::ops::cross_entropy::forward(s.logits, &labels, &weights)?;
        conf.add_batch(&s.batch.labels, &s.logits.to_f32()?, classes)?;
        loss_sum += loss.to_f32()?[0] as f64 * s.batch.n as f64;
        Ok(())
    })?;
    if pass.images == 0 {
        return Err(Error::Invalid("evaluation set is empty (or every image in it was unreadable)".into()));
    }
    Ok(Eval { summary: conf.summary(), loss: loss_sum / pass.images as f64, ranges: pass.ranges, peaks: pass.peaks })
}
