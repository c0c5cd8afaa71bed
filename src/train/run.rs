//! A training run: the model (a teacher, or a student distilled from its teacher), the data, the
//! recipe and the run's folder. `Run::start` skips a finished run of the same settings or
//! resumes one after its last finished epoch; `Run::epoch` trains and validates one epoch
//! (`epoch.rs`); `Run::finish` reloads the best checkpoint and tests it. `train` is the three in
//! a row.

use super::data::{class_weights, Data};
use super::eval::{evaluate, Eval};
use super::files::RunFiles;
use super::guard::{Guard, GuardCfg};
use super::progress::Progress;
use super::runlog::RunLog;
use super::{done, fingerprint, state};
use crate::error::{Error, Result};
use crate::fsx::RunLock;
use crate::nn::checkpoint::{self, LoadMode};
use crate::nn::fold;
use crate::nn::model::Model;
use crate::optim::Trainer;
use crate::recipe::Recipe;
use crate::report::metrics::Summary;
use crate::tensor::Tensor;
use std::path::PathBuf;
use std::time::Instant;

/// What a training run produced.
pub struct RunResult {
    pub best_epoch: usize,
    pub best_val: Summary,
    pub test: Eval,
    pub checkpoint: PathBuf,
    pub seconds: f64,
}

/// A run between epochs.
pub struct Run<'a> {
    pub(super) model: &'a mut Model,
    /// The teacher as distillation runs it (`nn::fold`).
    pub(super) teacher: Option<Model>,
    pub(super) data: &'a Data,
    pub(super) recipe: &'a Recipe,
    pub(super) files: RunFiles,
    pub(super) fingerprint: String,
    pub(super) trainer: Trainer,
    pub(super) guard: Guard,
    pub(super) progress: Progress,
    pub(super) log: RunLog,
    /// The first epoch (from 0) whose checkpoint may be kept: a student's only once every
    /// activation is polynomial.
    pub(super) first_candidate: usize,
    /// The recipe's batch, clamped to the training set.
    pub(super) batch: usize,
    pub(super) class_weights: Tensor,
    /// When this process took the run up, and the seconds spent on it before.
    pub(super) clock: (Instant, f64),
    /// The folder's lock, held until the run is dropped.
    _lock: RunLock,
}

/// What `Run::start` found in the run's folder (made once per run: its size does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Started<'a> {
    /// The same run, finished: its result, with its best checkpoint loaded into the model.
    Finished(RunResult),
    /// A run to train from `Run::epochs_done`.
    Ready(Run<'a>),
}

/// Train `model` (teacher when `teacher` is None, else the student distilled from it) into
/// `files`. The best epoch by validation macro-F1 is saved as the run's checkpoint and reloaded
/// into `model` before the test evaluation. After every epoch the run's state is written; a run
/// of the same settings that finds it goes on after that epoch, and one that finds the run
/// finished returns its result without training. The folder is locked (`fsx::RunLock`) while
/// the run trains: another process training there is refused.
pub fn train(model: &mut Model, teacher: Option<&Model>, data: &Data, recipe: &Recipe, files: &RunFiles) -> Result<RunResult> {
    let mut run = match Run::start(model, teacher, data, recipe, files)? {
        Started::Finished(result) => return Ok(result),
        Started::Ready(run) => run,
    };
    while run.epochs_done() < recipe.epochs {
        run.epoch()?;
    }
    run.finish()
}

/// The guard of a run: a check every 2 steps, a snapshot every 8; students have their
/// activation inputs watched (bound: `max_range`, else 100·R of the range-awareness setting).
fn guard_cfg(model: &Model, recipe: &Recipe) -> GuardCfg {
    GuardCfg {
        check_every: 2,
        snapshot_every: 8,
        max_range: model.config.student.is_some().then(|| recipe.max_range.unwrap_or(100.0 * recipe.range)),
        max_rollbacks: (!recipe.continue_with_nans).then_some(recipe.max_rollbacks),
        lr_factor: 0.5,
    }
}

/// Settings that make a run impossible, found before any work is done; returns the first
/// epoch whose checkpoint may be kept and the batch (clamped to the training set).
fn preflight(model: &Model, data: &Data, recipe: &Recipe) -> Result<(usize, usize)> {
    if data.train.is_empty() || data.val.is_empty() {
        return Err(Error::Invalid("training needs non-empty train and validation sets".into()));
    }
    if recipe.epochs == 0 {
        return Err(Error::Invalid("training needs at least one epoch".into()));
    }
    let n_act = model.activations().len();
    let first_candidate = if model.config.student.is_some() { recipe.schedule.done_at(n_act) } else { 0 };
    if first_candidate >= recipe.epochs {
        return Err(Error::Invalid(format!(
            "the {:?} schedule makes the last of {n_act} activations polynomial only in epoch {}; train for more than {} epochs",
            recipe.schedule,
            first_candidate + 1,
            first_candidate
        )));
    }
    if data.train.classes != model.config.class_names {
        return Err(Error::Invalid(format!("the data's classes {:?} differ from the model's {:?}", data.train.classes, model.config.class_names)));
    }
    // a batch beyond the training set would silently make every epoch a single step
    let batch = recipe.batch.min(data.train.len());
    if batch < recipe.batch {
        eprintln!("warning: batch {} is larger than the {} training images; using batch {batch} (one step per epoch)", recipe.batch, data.train.len());
    }
    Ok((first_candidate, batch))
}

impl<'a> Run<'a> {
    /// Take up the run in `files`: finished, resumed from its epoch state, or new.
    pub fn start(model: &'a mut Model, teacher: Option<&'a Model>, data: &'a Data, recipe: &'a Recipe, files: &RunFiles) -> Result<Started<'a>> {
        let (first_candidate, batch) = preflight(model, data, recipe)?;
        let dir = &files.dir;
        let lock = RunLock::acquire(dir)?; // makes the folder; no other process trains there until the run is dropped
        let fingerprint = fingerprint::of(model, teacher, data, recipe)?;
        let phase = files.phase;
        if let Some(r) = done::read(files, &fingerprint, model)? {
            eprintln!("{phase}: {} holds this run, finished (best epoch {}); skipped it (--fresh trains it again)", dir.display(), r.best_epoch);
            return Ok(Started::Finished(r));
        }
        state::remove_leftovers(files)?;
        let mut trainer = recipe.trainer()?;
        trainer.adopt(model)?;
        let gcfg = guard_cfg(model, recipe);
        let (guard, progress, log) = match state::load(&files.state(), &fingerprint, model, &mut trainer, gcfg)? {
            Some(r) => {
                eprintln!("{phase}: resuming after epoch {} of {} from {}", r.progress.epochs_done, recipe.epochs, files.state().display());
                // the state is written before the checkpoint of its epoch: write it again
                if r.progress.best.epoch == r.progress.epochs_done {
                    checkpoint::save(model, &files.checkpoint())?;
                }
                (r.guard, r.progress, RunLog::create(files, recipe.epochs, recipe.progress, Some(r.log))?)
            }
            None => (Guard::new(model, &trainer, gcfg)?, Progress::new(), RunLog::create(files, recipe.epochs, recipe.progress, None)?),
        };
        let class_weights = class_weights(model.params()[0].value.gpu(), &data.train, recipe.class_weights)?;
        let clock = (Instant::now(), progress.seconds);
        let files = files.clone();
        let teacher = teacher.map(fold::for_distillation).transpose()?;
        Ok(Started::Ready(Run { model, teacher, data, recipe, files, fingerprint, trainer, guard, progress, log, first_candidate, batch, class_weights, clock, _lock: lock }))
    }

    /// Epochs finished so far (over every process that worked on the run).
    pub fn epochs_done(&self) -> usize {
        self.progress.epochs_done
    }

    /// Seconds spent on the run so far.
    pub(super) fn seconds(&self) -> f64 {
        self.clock.1 + self.clock.0.elapsed().as_secs_f64()
    }

    /// Reload the best checkpoint, test it, write the plots and the test line, and mark the run
    /// done.
    pub fn finish(self) -> Result<RunResult> {
        let seconds = self.seconds();
        let Run { model, data, files, fingerprint, progress, mut log, first_candidate, batch, _lock, .. } = self;
        let best_val = progress.best.val.clone().ok_or_else(|| {
            Error::Invalid(format!(
                "{}: no epoch was kept{}: each ended with a non-finite validation loss or was rolled back by the guard, so there is no checkpoint; lower --lr, raise --range-weight or clip gradients (--clip-value 1)",
                files.phase,
                if first_candidate > 0 { " after its schedule" } else { "" }
            ))
        })?;
        checkpoint::load_state(model, &files.checkpoint(), LoadMode::Strict)?;
        model.finish_transition();
        let test = evaluate(model, data, &data.test, batch)?;
        log.finish(&test, &model.config.class_names, progress.best.epoch)?;
        let result = RunResult { best_epoch: progress.best.epoch, best_val, test, checkpoint: files.checkpoint(), seconds };
        done::write(&files, &fingerprint, &result)?;
        Ok(result)
    }
}
