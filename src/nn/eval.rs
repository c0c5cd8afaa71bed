//! The one eval-mode forward over batches of images, for everything that scores data: `heft
//! eval` and validation, `heft predict`, the observed ranges of `heft he-report` and the sample
//! logits of `heft export`. It gives each batch's logits to the caller and, when asked, folds
//! every activation's input range and the largest |layer output| over all batches, and keeps
//! each image's peak: its largest |activation input| and where (a quadratic student can blow up
//! on a few unusual images only). (The training guard watches ranges itself: on the GPU, over
//! training steps, read back per window.)

use super::forward::Ctx;
use super::model::Model;
use crate::data::loader::Batch;
use crate::error::Result;
use crate::ops::range::minmax;
use crate::ops::reduce::{reduce_into, Mode};
use crate::tape::{Tape, Var};
use crate::tensor::{DType, Tensor};
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

/// One image's largest |activation input| and the activation it was at. (A NaN the reductions
/// return is kept, never dropped; whether WGSL's max and min return one for a NaN input is the
/// adapter's choice.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// The image's index in its dataset.
    pub sample: usize,
    /// Index of the activation in execution order.
    pub act: usize,
    pub abs: f32,
}

/// The larger of two maxima, NaN if either is (`f32::max` would drop a NaN).
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() { f32::NAN } else { a.max(b) }
}

/// The smaller of two minima, NaN if either is.
fn nan_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() { f32::NAN } else { a.min(b) }
}

/// What a pass keeps beside the logits.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep {
    /// Every activation's input: given to the caller per batch, folded into `Pass::ranges` and
    /// each image's `Pass::peaks`.
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
    /// Each image's peak, in pass order (empty unless `Keep::act_inputs`).
    pub peaks: Vec<Peak>,
}

/// A peak with its image's path and its activation's name (metrics lines, `he-report`).
#[derive(Clone, Debug, Serialize)]
pub struct NamedPeak {
    pub path: String,
    pub activation: String,
    pub abs: f32,
}

impl NamedPeak {
    /// `p` of an image of `ds`, its activation named from `ranges` (the pass's).
    pub fn of(p: &Peak, ds: &crate::data::Dataset, ranges: &[ActRange]) -> NamedPeak {
        NamedPeak { path: ds.samples[p.sample].path.display().to_string(), activation: ranges[p.act].name.clone(), abs: p.abs }
    }
}

/// The images of `peaks` whose peak passes ±`bound` (a NaN peak does), largest first.
pub fn beyond(peaks: &[Peak], bound: f32) -> Vec<Peak> {
    let mut out: Vec<Peak> = peaks.iter().copied().filter(|p| p.abs > bound || p.abs.is_nan()).collect();
    out.sort_by(|a, b| b.abs.total_cmp(&a.abs));
    out
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
        let first = pass.peaks.len();
        if keep.act_inputs {
            pass.peaks.extend(b.indices.iter().map(|&sample| Peak { sample, act: 0, abs: 0.0 }));
        }
        for (i, (name, v)) in act_inputs.iter().enumerate() {
            // per image [max of its n values ..., min ...], read back once per activation
            let (n, per) = (b.n, v.value.numel() / b.n);
            let mm = Tensor::empty(&gpu, &[2 * n], DType::F32)?;
            reduce_into(&v.value, None, None, (1, n, per), Mode::Max, 1.0, &mm, 0)?;
            reduce_into(&v.value, None, None, (1, n, per), Mode::Min, 1.0, &mm, n)?;
            let mm = mm.to_f32()?;
            let (max, min) = (mm[..n].iter().copied().reduce(nan_max).unwrap_or(0.0), mm[n..].iter().copied().reduce(nan_min).unwrap_or(0.0));
            match pass.ranges.get_mut(i) {
                Some(r) => (r.max, r.min) = (nan_max(r.max, max), nan_min(r.min, min)),
                None => pass.ranges.push(ActRange { name: name.clone(), max, min }),
            }
            for (j, p) in pass.peaks[first..].iter_mut().enumerate() {
                let abs = nan_max(mm[j].abs(), mm[n + j].abs());
                if (abs > p.abs || abs.is_nan()) && !p.abs.is_nan() {
                    (p.abs, p.act) = (abs, i);
                }
            }
        }
        each(Scored { batch: &b, logits: &logits.value, act_inputs: &act_inputs })?;
        pass.images += b.n;
    }
    Ok(pass)
}
