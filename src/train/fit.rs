//! The epoch loop of a training run: for each epoch, set the student's ReLU→polynomial ratios,
//! run a step (`crate::step`) per batch and apply Adam, with the divergence guard watching
//! (`guard`: no read-back per step; bad windows rolled back), evaluate on the validation split,
//! keep the best checkpoint (by macro-F1, then loss), and cut the learning rates on a plateau;
//! then reload the best checkpoint and evaluate it on the test split.

use super::data::{class_weights, Data};
use super::eval::evaluate;
use super::{done, fingerprint, state};
use super::guard::{Guard, GuardCfg, Verdict};
use super::runlog::{EpochRecord, RunLog};
use crate::data::augment::Augment;
use crate::data::loader::Batch as LoadedBatch;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::checkpoint::{self, LoadMode};
use crate::nn::model::Model;
use crate::recipe::Recipe;
use crate::report::metrics::{Confusion, Summary};
use crate::step::{self, Batch};
use crate::tensor::Tensor;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a training run produced.
pub struct RunResult {
    pub best_epoch: usize,
    pub best_val: Summary,
    pub test: super::eval::Eval,
    pub checkpoint: PathBuf,
    pub seconds: f64,
}

fn step_seed(seed: u64, epoch: usize, step: usize) -> u32 {
    crate::rng::derive(&[seed, epoch as u64, step as u64]) as u32
}

/// ReduceLROnPlateau on the validation loss: after more than `patience` epochs without a new
/// best, every rate is multiplied by `factor`, never below `floor`.
pub(super) struct Plateau {
    pub best: f64,
    pub bad_epochs: usize,
}

/// The best epoch so far (by validation macro-F1, then loss), from 1; 0 before there is one.
pub(super) struct Best {
    pub f1: f64,
    pub loss: f64,
    pub epoch: usize,
    pub val: Option<Summary>,
}

/// Where a run stands between epochs, besides its tensors, learning rates and log (all of it
/// goes into the epoch state).
pub(super) struct Progress {
    pub epochs_done: usize,
    pub best: Best,
    pub plateau: Plateau,
    /// Seconds spent training so far (over every process that worked on the run).
    pub seconds: f64,
}

impl Plateau {
    fn update(&mut self, val_loss: f64, recipe: &Recipe, trainer: &mut crate::optim::Trainer) {
        let (factor, patience, floor) = recipe.plateau;
        if val_loss < self.best {
            (self.best, self.bad_epochs) = (val_loss, 0);
            return;
        }
        self.bad_epochs += 1;
        if self.bad_epochs > patience {
            fn cut(lr: f32, factor: f32, floor: f32) -> f32 {
                if lr > floor { (lr * factor).max(floor) } else { lr }
            }
            trainer.lr = cut(trainer.lr, factor, floor);
            trainer.coef_lr = trainer.coef_lr.map(|lr| cut(lr, factor, floor));
            self.bad_epochs = 0;
        }
    }
}

/// The guard of a run: a check every 2 steps, a snapshot every 8; students have their
/// activation inputs watched (bound: `max_range`, else 100·R of the range-awareness setting).
fn guard_cfg(model: &Model, recipe: &Recipe) -> GuardCfg {
    GuardCfg {
        check_every: 2,
        snapshot_every: 8,
        max_range: model.config.student.is_some().then(|| recipe.max_range.unwrap_or(100.0 * recipe.range_r)),
        max_rollbacks: (!recipe.continue_with_nans).then_some(recipe.max_rollbacks),
        lr_factor: 0.5,
    }
}

/// The error of a run the guard stopped, with the best checkpoint saved so far, if any.
fn stopped(phase: &str, e: Error, ckpt: &Path) -> Error {
    let kept = if ckpt.exists() { format!(" The best checkpoint so far is {}", ckpt.display()) } else { String::new() };
    Error::Invalid(format!("{phase}: {e}.{kept}"))
}

/// Settings that make a run impossible, found before any work is done; returns the epoch from
/// which a checkpoint may be kept (a student only once every activation is polynomial) and
/// the batch (clamped to the training set).
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

/// A loaded batch on the GPU: images, labels and the image count.
fn upload(gpu: &Gpu, model: &Model, b: Result<LoadedBatch>) -> Result<(Tensor, Tensor, usize)> {
    let b = b?;
    let x = Tensor::from_f32(gpu, &b.x, &model.in_shape(b.n))?;
    let labels = crate::ops::cross_entropy::labels(gpu, &b.labels, model.config.classes)?;
    Ok((x, labels, b.n))
}

/// Train `model` (teacher when `teacher` is None, else the student distilled from it). The
/// best epoch by validation macro-F1 is saved as `<out>/<phase>.safetensors` and reloaded
/// into `model` before the test evaluation. After every epoch the run's state is written to
/// `out` (`state`); a run of the same settings that finds it goes on after that epoch, and one
/// that finds the run finished (`done`) returns its result without training. `out` is locked
/// (`fsx::RunLock`) while the run trains: another process training there is refused.
pub fn train(model: &mut Model, teacher: Option<&Model>, data: &Data, recipe: &Recipe, out: &Path, phase: &str) -> Result<RunResult> {
    let gpu = model.params()[0].value.gpu().clone();
    let (first_candidate, batch) = preflight(model, data, recipe)?;
    let _lock = crate::fsx::RunLock::acquire(out)?; // makes `out`; no other process trains there until the run returns
    let ckpt = out.join(format!("{phase}.safetensors"));
    let fingerprint = fingerprint::of(model, teacher, data, recipe)?;
    if let Some(r) = done::read(out, phase, &fingerprint, model)? {
        eprintln!("{phase}: {} holds this run, finished (best epoch {}); skipped it (--fresh trains it again)", out.display(), r.best_epoch);
        return Ok(r);
    }
    state::remove_leftovers(out, phase)?;
    let state_path = state::path(out, phase);
    let mut trainer = recipe.trainer();
    let gcfg = guard_cfg(model, recipe);
    let (mut guard, mut progress, mut log) = match state::load(&state_path, &fingerprint, model, &mut trainer, gcfg)? {
        Some(r) => {
            eprintln!("{phase}: resuming after epoch {} of {} from {}", r.progress.epochs_done, recipe.epochs, state_path.display());
            // the state is written before the checkpoint of its epoch: write it again
            if r.progress.best.epoch == r.progress.epochs_done {
                checkpoint::save(model, &ckpt)?;
            }
            (r.guard, r.progress, RunLog::create(out, phase, recipe.epochs, recipe.progress, Some(r.log))?)
        }
        None => {
            let best = Best { f1: -1.0, loss: f64::INFINITY, epoch: 0, val: None };
            let progress = Progress { epochs_done: 0, best, plateau: Plateau { best: f64::INFINITY, bad_epochs: 0 }, seconds: 0.0 };
            (Guard::new(model, &trainer, gcfg)?, progress, RunLog::create(out, phase, recipe.epochs, recipe.progress, None)?)
        }
    };
    let weights = class_weights(&gpu, &data.train, recipe.class_weights)?;
    let loss_cfg = recipe.loss();
    let augment = recipe.augment.then(Augment::default);
    let n_act = model.activations().len();
    let (start, before) = (Instant::now(), progress.seconds);
    for epoch in progress.epochs_done..recipe.epochs {
        let ratios = if model.config.student.is_some() { recipe.schedule.ratios(n_act, epoch) } else { vec![] };
        for (a, r) in model.activations_mut().into_iter().zip(&ratios) {
            a.ratio = *r;
        }
        let t0 = Instant::now();
        let mut loader = data.loader(&data.train, model, batch, Some((augment, recipe.seed, epoch as u64)));
        let bar = log.bar(epoch, data.train.len());
        let mut conf = Confusion::new(&model.config.class_names);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut batches = loader.by_ref().enumerate();
        let mut next = batches.next().map(|(i, b)| upload(&gpu, model, b).map(|u| (i, u)));
        while let Some(current) = next {
            let (i, (x, labels, n)) = current?;
            bar.inc(n as u64);
            let batch = Batch { x: &x, labels: &labels, weights: &weights };
            let s = step::forward_backward(model, teacher, &batch, &loss_cfg, step_seed(recipe.seed, epoch, i), guard.wants_ranges())?;
            guard.record(&s, &labels, n)?;
            trainer.step(&model.params(), &s.grads)?;
            // the next batch is uploaded while this step's work is queued, before a check
            // waits for the GPU
            next = batches.next().map(|(i, b)| upload(&gpu, model, b).map(|u| (i, u)));
            let last = next.is_none();
            if !guard.due(last) {
                continue;
            }
            match guard.check(model, &mut trainer, (epoch, i), last).map_err(|e| stopped(phase, e, &ckpt))? {
                Verdict::Good { loss_sum: l, images, counts } => {
                    conf.add_counts(&counts)?;
                    (loss_sum, seen) = (loss_sum + l, seen + images);
                    bar.set_message(format!("loss {:.4}", loss_sum / seen.max(1) as f64));
                }
                Verdict::RolledBack(r) => {
                    if recipe.progress {
                        bar.suspend(|| eprintln!("{phase}: {}; rolled back to epoch {} step {}, learning rate now {:e}", r.reason, r.restored.0, r.restored.1, r.lr));
                    }
                    log.rollback(phase, &r)?;
                }
            }
        }
        bar.finish_and_clear();
        if seen == 0 && guard.rollbacks == 0 {
            return Err(Error::Invalid("no training image could be read".into()));
        }
        let train_secs = t0.elapsed().as_secs_f64();
        let val = evaluate(model, data, &data.val, batch)?;
        let rejected = guard.validate(model, &mut trainer, &val, epoch).map_err(|e| stopped(phase, e, &ckpt))?;
        if let Some(r) = &rejected {
            if recipe.progress {
                eprintln!("{phase}: {}; rolled back to epoch {} step {}, learning rate now {:e}", r.reason, r.restored.0, r.restored.1, r.lr);
            }
            log.rollback(phase, r)?;
        }
        // an epoch the guard rejected (a student blowing up in eval mode) is never the best,
        // however its argmax scores
        let candidate = epoch >= first_candidate && rejected.is_none();
        let best = &mut progress.best;
        let improved = candidate && (val.summary.macro_f1 > best.f1 || (val.summary.macro_f1 == best.f1 && val.loss < best.loss));
        if improved {
            *best = Best { f1: val.summary.macro_f1, loss: val.loss, epoch: epoch + 1, val: Some(val.summary.clone()) };
        }
        progress.plateau.update(val.loss, recipe, &mut trainer);
        let memory = gpu.memory();
        (progress.epochs_done, progress.seconds) = (epoch + 1, before + start.elapsed().as_secs_f64());
        log.epoch(&EpochRecord {
            phase: phase.into(),
            epoch: epoch + 1,
            lr: trainer.lr,
            train_loss: loss_sum / seen as f64,
            train_accuracy: conf.accuracy(),
            val_loss: val.loss,
            val_accuracy: val.summary.accuracy,
            val_macro_f1: val.summary.macro_f1,
            ratios,
            act_ranges: val.ranges,
            images_per_s: seen as f64 / train_secs,
            seconds: progress.seconds,
            skipped_images: loader.skipped(),
            best: improved,
            gpu_bytes: memory.allocated,
            gpu_high_water_bytes: memory.high_water,
        })?;
        // the state is the commit point of the epoch; the checkpoint follows it (a resumed run
        // writes it again from the state, see above)
        state::save(&state_path, &fingerprint, model, &trainer, &guard, &progress, &log)?;
        if improved {
            checkpoint::save(model, &ckpt)?;
        }
    }
    let best_val = progress.best.val.ok_or_else(|| {
        Error::Invalid(format!(
            "{phase}: no epoch ended with a finite validation loss{}, so there is no checkpoint; lower --lr, raise --range-weight or clip gradients (--clip-value 1)",
            if first_candidate > 0 { " after its schedule" } else { "" }
        ))
    })?;
    checkpoint::load_state(model, &ckpt, LoadMode::Strict)?;
    model.finish_transition();
    let test = evaluate(model, data, &data.test, batch)?;
    log.finish(&test, &model.config.class_names, progress.best.epoch)?;
    let result = RunResult { best_epoch: progress.best.epoch, best_val, test, checkpoint: ckpt, seconds: before + start.elapsed().as_secs_f64() };
    done::write(out, phase, &fingerprint, &result)?;
    Ok(result)
}
