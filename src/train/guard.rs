//! The divergence guard of a training run. Quadratic activations can run away: an activation's
//! input grows step after step until the loss turns NaN. The guard keeps, on the GPU and without
//! reading anything back per step, the sum of the window's losses and its confusion counts; every
//! `check_every` steps it also reduces each activation input to its [max, min], reads the window
//! back once and judges it. A good window is added to the epoch's figures; a bad one (a
//! non-finite loss, or an activation input beyond `max_range`) is discarded: the model and the
//! optimiser go back to the last confirmed snapshot, the learning rates are multiplied by
//! `lr_factor`, and training goes on, up to `max_rollbacks` times.
//!
//! A snapshot is taken at a good check but only *confirmed* at the next good check: the update
//! of a window's last step comes after its loss, so it can only be trusted once the next window's
//! losses are finite.

use crate::error::{Error, Result};
use crate::nn::model::Model;
use crate::ops::{confusion, elementwise, range};
use crate::optim::{OptState, Trainer};
use crate::step::Step;
use crate::tensor::Tensor;
use super::eval::{ActRange, Eval};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuardCfg {
    /// Steps between checks (each check is one read-back).
    pub check_every: usize,
    /// Steps between snapshots of the model and optimiser state.
    pub snapshot_every: usize,
    /// Largest |activation input| before the run counts as diverging (None: not watched).
    pub max_range: Option<f32>,
    /// Rollbacks before the run stops (None: never stop).
    pub max_rollbacks: Option<usize>,
    /// Learning-rate factor at each rollback.
    pub lr_factor: f32,
}

/// A rollback (a line of metrics.jsonl).
#[derive(Clone, Debug, Serialize)]
pub struct Rollback {
    pub event: &'static str,
    pub epoch: usize,
    /// Step (within the epoch, from 0) at which the bad window was seen; None: at validation.
    pub step: Option<usize>,
    pub reason: String,
    /// The activation whose input ran away, when that was the reason.
    pub layer: Option<String>,
    /// Learning rates after the cut.
    pub lr: f32,
    pub coef_lr: Option<f32>,
    /// Epoch and step of the state restored.
    pub restored: (usize, usize),
}

/// What a check found.
pub enum Verdict {
    /// The window's steps count: Σ loss × images, the images and the confusion counts [C·C].
    Good { loss_sum: f64, images: usize, counts: Vec<f32> },
    RolledBack(Rollback),
}

/// A copy of the model's state tensors (`Model::state` order) and of the optimiser's state,
/// taken at epoch and step `at`.
pub(super) struct Snapshot {
    pub model: Vec<Tensor>,
    pub opt: OptState,
    pub at: (usize, usize),
}

/// What the guard carries from one epoch into the next (see `Guard::between_epochs`).
pub(super) struct Carry<'a> {
    pub rollbacks: usize,
    /// The confirmed snapshot when it differs from the current state (a candidate is pending),
    /// else None: the confirmed snapshot is the current state.
    pub confirmed: Option<&'a Snapshot>,
    pub confirmed_at: (usize, usize),
    /// Where the pending candidate (the current state) was taken, if there is one.
    pub candidate_at: Option<(usize, usize)>,
}

impl Snapshot {
    pub(super) fn take(model: &Model, trainer: &Trainer, at: (usize, usize)) -> Result<Snapshot> {
        let tensors = model.state().into_iter().map(|(_, t)| t.deep_clone()).collect::<Result<_>>()?;
        Ok(Snapshot { model: tensors, opt: trainer.save_state()?, at })
    }

    fn restore(&self, model: &Model, trainer: &mut Trainer) -> Result<()> {
        for ((_, t), saved) in model.state().into_iter().zip(&self.model) {
            t.copy_from(saved)?;
        }
        trainer.restore_state(&self.opt)
    }
}

pub struct Guard {
    cfg: GuardCfg,
    /// Σ over the window's steps of loss × images [1].
    loss: Tensor,
    /// The window's confusion counts [C, C].
    counts: Tensor,
    /// [max, min] of each activation input at the window's last step [2·A].
    ranges: Tensor,
    act_names: Vec<String>,
    ranges_taken: bool,
    window_steps: usize,
    window_images: usize,
    confirmed: Snapshot,
    candidate: Option<Snapshot>,
    since_snapshot: usize,
    pub rollbacks: usize,
}

impl Guard {
    pub fn new(model: &Model, trainer: &Trainer, cfg: GuardCfg) -> Result<Guard> {
        let gpu = model.params()[0].value.gpu().clone();
        let c = model.config.classes;
        let act_names: Vec<String> = model.activations().iter().map(|a| a.name.clone()).collect();
        Ok(Guard {
            cfg,
            loss: elementwise::full(&gpu, &[1], 0.0)?,
            counts: elementwise::full(&gpu, &[c, c], 0.0)?,
            ranges: elementwise::full(&gpu, &[2 * act_names.len().max(1)], 0.0)?,
            act_names,
            ranges_taken: false,
            window_steps: 0,
            window_images: 0,
            confirmed: Snapshot::take(model, trainer, (0, 0))?,
            candidate: None,
            since_snapshot: 0,
            rollbacks: 0,
        })
    }

    /// The guard between two epochs, for the epoch state of a run. At an epoch's end the
    /// window is empty and nothing is due before the next snapshot but the snapshot itself
    /// (`since_snapshot` is 0): the last step's forced check either took a candidate, which is
    /// then the current model and optimiser state (validation changes neither; the plateau
    /// cut changes only the learning rates, which no snapshot holds), or rolled back, as may
    /// validation; after a rollback there is no candidate and the confirmed snapshot is the
    /// current state.
    pub(super) fn between_epochs(&self) -> Carry<'_> {
        Carry {
            rollbacks: self.rollbacks,
            confirmed: self.candidate.as_ref().map(|_| &self.confirmed),
            confirmed_at: self.confirmed.at,
            candidate_at: self.candidate.as_ref().map(|c| c.at),
        }
    }

    /// A guard as `between_epochs` described it, on the restored current state of `model` and
    /// `trainer`: `confirmed` is the separately stored snapshot (None: the current state).
    pub(super) fn resume(model: &Model, trainer: &Trainer, cfg: GuardCfg, rollbacks: usize, confirmed: Option<Snapshot>, confirmed_at: (usize, usize), candidate_at: Option<(usize, usize)>) -> Result<Guard> {
        let mut guard = Guard::new(model, trainer, cfg)?;
        guard.confirmed = match confirmed {
            Some(s) => s,
            None => Snapshot::take(model, trainer, confirmed_at)?,
        };
        guard.candidate = candidate_at.map(|at| Snapshot::take(model, trainer, at)).transpose()?;
        guard.rollbacks = rollbacks;
        Ok(guard)
    }

    /// Whether the coming step should keep its activation inputs (it ends a window).
    pub fn wants_ranges(&self) -> bool {
        self.cfg.max_range.is_some() && self.window_steps + 1 >= self.cfg.check_every
    }

    /// Add a step (before its update) to the window, on the GPU.
    pub fn record(&mut self, step: &Step, labels: &Tensor, images: usize) -> Result<()> {
        elementwise::accumulate(&self.loss, &step.loss, images as f32, 1.0)?;
        confusion::accumulate(&self.counts, &step.logits, labels)?;
        if !step.act_inputs.is_empty() {
            for (i, (_, x)) in step.act_inputs.iter().enumerate() {
                range::minmax_into(x, &self.ranges, 2 * i)?;
            }
            self.ranges_taken = true;
        }
        self.window_steps += 1;
        self.window_images += images;
        Ok(())
    }

    /// A check is due (a full window), or `force`d with any step pending (end of an epoch).
    pub fn due(&self, force: bool) -> bool {
        self.window_steps >= self.cfg.check_every || (force && self.window_steps > 0)
    }

    /// Why the window is bad, and the activation to blame, if it is.
    fn judge(&self, loss_sum: f32) -> Result<Option<(String, Option<String>)>> {
        if !loss_sum.is_finite() {
            return Ok(Some((format!("the loss became {loss_sum}"), None)));
        }
        let (Some(bound), true) = (self.cfg.max_range, self.ranges_taken) else { return Ok(None) };
        let r = self.ranges.to_f32()?;
        let mut ranges = self.act_names.iter().enumerate().map(|(i, name)| ActRange { name: name.clone(), max: r[2 * i], min: r[2 * i + 1] });
        Ok(ranges.find(|r| !r.within(bound)).map(|r| (format!("the input of {} reached [{:.4e}, {:.4e}], beyond ±{bound}", r.name, r.min, r.max), Some(r.name))))
    }

    /// Read the window back and judge it (`at`: epoch and step of its last step; `epoch_end`
    /// also takes a snapshot). A bad window is rolled back; past `max_rollbacks` the run stops
    /// with an error naming the cause.
    pub fn check(&mut self, model: &Model, trainer: &mut Trainer, at: (usize, usize), epoch_end: bool) -> Result<Verdict> {
        let loss_sum = self.loss.to_f32()?[0];
        let counts = self.counts.to_f32()?;
        let bad = self.judge(loss_sum)?;
        let images = self.window_images;
        elementwise::fill(&self.loss, 0.0)?;
        elementwise::fill(&self.counts, 0.0)?;
        (self.window_steps, self.window_images, self.ranges_taken) = (0, 0, false);
        if let Some((reason, layer)) = bad {
            return Ok(Verdict::RolledBack(self.roll_back(model, trainer, at, reason, layer)?));
        }
        if let Some(c) = self.candidate.take() {
            self.confirmed = c;
        }
        self.since_snapshot += self.cfg.check_every;
        if self.since_snapshot >= self.cfg.snapshot_every || epoch_end {
            self.candidate = Some(Snapshot::take(model, trainer, at)?);
            self.since_snapshot = 0;
        }
        Ok(Verdict::Good { loss_sum: loss_sum as f64, images, counts })
    }

    /// After an epoch's validation (eval mode: batch norm on running statistics, where a
    /// student can blow up while its training steps look sane): a non-finite loss, or a
    /// student's activation input beyond the bound, rolls the epoch back. (The window is empty
    /// then: the epoch's last step forced a check.)
    pub fn validate(&mut self, model: &Model, trainer: &mut Trainer, val: &Eval, epoch: usize) -> Result<Option<Rollback>> {
        let at = (epoch, usize::MAX);
        if !val.loss.is_finite() {
            return Ok(Some(self.roll_back(model, trainer, at, format!("the validation loss became {}", val.loss), None)?));
        }
        let Some(bound) = self.cfg.max_range else { return Ok(None) };
        match val.ranges.iter().find(|r| !r.within(bound)) {
            Some(r) => {
                let images = crate::nn::eval::beyond(&val.peaks, bound).len();
                let reason = format!(
                    "on validation, the input of {} reached [{:.4e}, {:.4e}], beyond ±{bound} (some activation input of {images} of the {} images passes it)",
                    r.name,
                    r.min,
                    r.max,
                    val.peaks.len()
                );
                Ok(Some(self.roll_back(model, trainer, at, reason, Some(r.name.clone()))?))
            }
            None => Ok(None),
        }
    }

    /// Restore the confirmed snapshot and cut the learning rates; callers start from an empty
    /// window (`check` has just cleared it, `validate` runs after the epoch's forced check).
    fn roll_back(&mut self, model: &Model, trainer: &mut Trainer, at: (usize, usize), reason: String, layer: Option<String>) -> Result<Rollback> {
        let step = if at.1 == usize::MAX { "validation".to_string() } else { format!("step {}", at.1) };
        self.rollbacks += 1;
        if self.cfg.max_rollbacks.is_some_and(|m| self.rollbacks > m) {
            return Err(Error::Invalid(format!(
                "training diverged at epoch {} {step}: {reason}, after {} rollbacks that each halved the learning rates \
                 (now {:e}). Lower --lr, raise --range-weight, clip gradients (--clip-value 1), or start the polynomial \
                 nearer ReLU (--init 0,0.5,0.05); if the bound was passed on a few validation images only, --max-range 1e30 \
                 leaves only non-finite values to the guard (IBM's rule)",
                at.0 + 1,
                self.rollbacks - 1,
                trainer.lr
            )));
        }
        self.candidate = None;
        self.confirmed.restore(model, trainer)?;
        trainer.scale_lr(self.cfg.lr_factor);
        self.since_snapshot = 0;
        Ok(Rollback {
            event: "rollback",
            epoch: at.0 + 1,
            step: (at.1 != usize::MAX).then_some(at.1),
            reason,
            layer,
            lr: trainer.lr,
            coef_lr: trainer.coef_lr,
            restored: (self.confirmed.at.0 + 1, self.confirmed.at.1),
        })
    }
}
