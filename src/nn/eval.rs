//! The one eval-mode forward over batches of images, for everything that scores data: `heft
//! eval` and validation, `heft predict`, the observed ranges of `heft he-report` and the sample
//! logits of `heft export`. It gives each batch's logits to the caller and, when asked, folds
//! every activation's input range and the largest |layer output| over all batches. (The
//! training guard watches ranges itself: on the GPU, over training steps, read back per window.)

use super::forward::Ctx;
use super::model::Model;
use crate::data::loader::Batch;
use crate::error::Result;
use crate::ops::range::minmax;
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

impl ActRange {
    /// Whether both ends lie within ±`bound` (false for NaN).
    pub fn within(&self, bound: f32) -> bool {
        self.max.abs() <= bound && self.min.abs() <= bound
    }
}

/// What a pass keeps beside the logits.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep {
    /// Every activation's input: given to the caller per batch, folded into `Pass::ranges`.
    pub act_inputs: bool,
    /// The largest |value| of every leaf's and join's output, into `Pass::max_abs_output`.
    pub outputs: bool,
}

/// One batch as the model scored it.
pub struct Scored<'a> {
    pub batch: &'a Batch,
    /// [n, classes], on the GPU.
    pub logits: &'a Tensor,
    /// (name, input) of every activation in execution order (empty unless `Keep::act_inputs`).
    pub act_inputs: &'a [(String, Var)],
}

/// What the whole pass saw.
#[derive(Debug, Default)]
pub struct Pass {
    pub images: usize,
    /// Every activation's input range over all batches (empty unless `Keep::act_inputs`).
    pub ranges: Vec<ActRange>,
    /// The largest |layer output| over all batches (0 unless `Keep::outputs`).
    pub max_abs_output: f32,
}

/// Runs `model` in eval mode, without gradients, on every batch of `batches` (an unreadable
/// batch ends the pass with its error) and gives each to `each`.
pub fn forward_batches(model: &Model, batches: impl IntoIterator<Item = Result<Batch>>, keep: Keep, mut each: impl FnMut(Scored) -> Result<()>) -> Result<Pass> {
    let gpu = model.params()[0].value.gpu().clone();
    let mut pass = Pass::default();
    for b in batches {
        let b = b?;
        let x = Tensor::from_f32(&gpu, &b.x, &model.in_shape(b.n))?;
        let mut ctx = Ctx { act_inputs: keep.act_inputs.then(Vec::new), outputs: keep.outputs.then(Vec::new), ..Ctx::eval() };
        let logits = model.forward(&mut Tape::no_grad(), &Var::constant(x), &mut ctx)?;
        for v in ctx.outputs.unwrap_or_default() {
            let mm = minmax(&v.value)?.to_f32()?;
            pass.max_abs_output = pass.max_abs_output.max(mm[0].abs()).max(mm[1].abs());
        }
        let act_inputs = ctx.act_inputs.unwrap_or_default();
        for (i, (name, v)) in act_inputs.iter().enumerate() {
            let mm = minmax(&v.value)?.to_f32()?;
            match pass.ranges.get_mut(i) {
                Some(r) => (r.max, r.min) = (r.max.max(mm[0]), r.min.min(mm[1])),
                None => pass.ranges.push(ActRange { name: name.clone(), max: mm[0], min: mm[1] }),
            }
        }
        each(Scored { batch: &b, logits: &logits.value, act_inputs: &act_inputs })?;
        pass.images += b.n;
    }
    Ok(pass)
}
