//! One training step's computation, the only place it is written: the model's forward pass on
//! a batch, class-weighted cross-entropy, plus α·T²·KL(teacher_T ‖ student_T) when a frozen
//! teacher is given, plus the range-awareness penalty of every activation input when its weight
//! is positive, then the backward pass. Training, profiling, tuning and the golden checks call
//! it; the caller applies the update (so it can skip a non-finite step).

use crate::error::Result;
use crate::nn::functional as F;
use crate::nn::layers::Ctx;
use crate::nn::model::Model;
use crate::tape::{Grads, Tape, Var};
use crate::tensor::Tensor;

/// What the loss adds to class-weighted cross-entropy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    /// Distillation weight α and temperature T (used when the step has a teacher).
    pub kd_alpha: f32,
    pub kd_t: f32,
    /// Range-awareness weight (0: off) and bound R.
    pub range_weight: f32,
    pub range_r: f32,
}

impl Loss {
    /// Cross-entropy alone (no teacher, no range penalty).
    pub fn cross_entropy() -> Loss {
        Loss { kd_alpha: 0.0, kd_t: 1.0, range_weight: 0.0, range_r: 0.0 }
    }
}

/// One labelled batch on the GPU: images [N, C, H, W], labels u32 [N], class weights [classes].
pub struct Batch<'a> {
    pub x: &'a Tensor,
    pub labels: &'a Tensor,
    pub weights: &'a Tensor,
}

/// What a step computed: the loss ([1], still on the GPU), the logits [N, classes], the
/// gradient of every trainable parameter, and (when asked for) every activation's input.
pub struct Step {
    pub loss: Tensor,
    pub logits: Tensor,
    pub grads: Grads,
    pub act_inputs: Vec<(String, Tensor)>,
}

/// Forward and backward of `model` (training mode, dropout seeded by `seed`) on `batch`,
/// distilling from `teacher` when given; `keep_act_inputs` returns the activations' inputs.
pub fn forward_backward(model: &Model, teacher: Option<&Model>, batch: &Batch, loss_cfg: &Loss, seed: u32, keep_act_inputs: bool) -> Result<Step> {
    let mut tape = Tape::new();
    let mut ctx = Ctx { act_inputs: (keep_act_inputs || loss_cfg.range_weight > 0.0).then(Vec::new), ..Ctx::train(seed) };
    let logits = model.forward(&mut tape, &Var::constant(batch.x.clone()), &mut ctx)?;
    let mut loss = F::cross_entropy(&mut tape, &logits, batch.labels, batch.weights)?;
    if let Some(t) = teacher {
        let kd = F::distill(&mut tape, &logits, &t.infer(batch.x)?, loss_cfg.kd_t)?;
        loss = F::add(&mut tape, &loss, &kd, 1.0, loss_cfg.kd_alpha)?;
    }
    let inputs = ctx.act_inputs.take().unwrap_or_default();
    if loss_cfg.range_weight > 0.0 {
        for (_, input) in &inputs {
            let penalty = F::range_penalty(&mut tape, input, loss_cfg.range_r)?;
            loss = F::add(&mut tape, &loss, &penalty, 1.0, loss_cfg.range_weight)?;
        }
    }
    let grads = tape.backward(&loss)?;
    let act_inputs = if keep_act_inputs { inputs.into_iter().map(|(name, v)| (name, v.value)).collect() } else { vec![] };
    Ok(Step { loss: loss.value, logits: logits.value, grads, act_inputs })
}
