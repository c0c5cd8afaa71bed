//! The epoch loop of a training run: for each epoch, set the student's ReLU→polynomial ratios,
//! run a step (`crate::step`) per batch and apply Adam, evaluate on the validation split, keep
//! the best checkpoint (by macro-F1, then loss), and cut the learning rates on a plateau; then
//! reload the best checkpoint and evaluate it on the test split.

use super::data::{class_weights, Data};
use super::eval::evaluate;
use super::runlog::{EpochRecord, RunLog};
use crate::data::augment::Augment;
use crate::error::{Error, Result};
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
struct Plateau {
    best: f64,
    bad_epochs: usize,
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
            let cut = |lr: f32| if lr > floor { (lr * factor).max(floor) } else { lr };
            trainer.lr = cut(trainer.lr);
            trainer.coef_lr = trainer.coef_lr.map(cut);
            self.bad_epochs = 0;
        }
    }
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

/// Train `model` (teacher when `teacher` is None, else the student distilled from it). The
/// best epoch by validation macro-F1 is saved as `<out>/<phase>.safetensors` and reloaded
/// into `model` before the test evaluation.
pub fn train(model: &mut Model, teacher: Option<&Model>, data: &Data, recipe: &Recipe, out: &Path, phase: &str) -> Result<RunResult> {
    let gpu = model.params()[0].value.gpu().clone();
    let (first_candidate, batch) = preflight(model, data, recipe)?;
    std::fs::create_dir_all(out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
    let ckpt = out.join(format!("{phase}.safetensors"));
    let mut log = RunLog::create(out, phase, recipe.epochs, recipe.progress)?;
    let weights = class_weights(&gpu, &data.train, recipe.class_weights)?;
    let mut trainer = recipe.trainer();
    let loss_cfg = recipe.loss();
    let augment = recipe.augment.then(Augment::default);
    let n_act = model.activations().len();
    let (mut best_f1, mut best_loss, mut best_epoch) = (-1.0f64, f64::INFINITY, 0usize);
    let mut best_val: Option<Summary> = None;
    let mut plateau = Plateau { best: f64::INFINITY, bad_epochs: 0 };
    let start = Instant::now();
    for epoch in 0..recipe.epochs {
        let ratios = if model.config.student.is_some() { recipe.schedule.ratios(n_act, epoch) } else { vec![] };
        for (a, r) in model.activations_mut().into_iter().zip(&ratios) {
            a.ratio = *r;
        }
        let t0 = Instant::now();
        let mut loader = data.loader(&data.train, model, batch, Some((augment, recipe.seed, epoch as u64)));
        let bar = log.bar(epoch, data.train.len());
        let mut conf = Confusion::new(&model.config.class_names);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        for (i, b) in loader.by_ref().enumerate() {
            let b = b?;
            bar.inc(b.n as u64);
            let x = Tensor::from_f32(&gpu, &b.x, &model.in_shape(b.n))?;
            let labels = crate::ops::cross_entropy::labels(&gpu, &b.labels, model.config.classes)?;
            let batch = Batch { x: &x, labels: &labels, weights: &weights };
            let s = step::forward_backward(model, teacher, &batch, &loss_cfg, step_seed(recipe.seed, epoch, i))?;
            let l = s.loss.to_f32()?[0];
            if !l.is_finite() {
                if !recipe.continue_with_nans {
                    return Err(Error::Invalid(format!(
                        "{phase}: the loss became {l} at epoch {} step {i}; lower --lr, clip gradients (--clip-value 1) \
                         or pass --continue-with-nans. The best checkpoint so far is {}",
                        epoch + 1,
                        ckpt.display()
                    )));
                }
                continue; // skip the update: non-finite gradients would poison the weights and moments
            }
            trainer.step(&model.params(), &s.grads)?;
            conf.add_batch(&b.labels, &s.logits.to_f32()?, model.config.classes)?;
            loss_sum += l as f64 * b.n as f64;
            seen += b.n;
            bar.set_message(format!("loss {:.4}", loss_sum / seen as f64));
        }
        bar.finish_and_clear();
        if seen == 0 {
            return Err(Error::Invalid("no training image could be read".into()));
        }
        let train_secs = t0.elapsed().as_secs_f64();
        let val = evaluate(model, data, &data.val, batch)?;
        let improved = epoch >= first_candidate && (val.summary.macro_f1 > best_f1 || (val.summary.macro_f1 == best_f1 && val.loss < best_loss));
        if improved {
            (best_f1, best_loss, best_epoch) = (val.summary.macro_f1, val.loss, epoch + 1);
            best_val = Some(val.summary.clone());
            checkpoint::save(model, &ckpt)?;
        }
        plateau.update(val.loss, recipe, &mut trainer);
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
            seconds: start.elapsed().as_secs_f64(),
            skipped_images: loader.skipped(),
            best: improved,
        })?;
    }
    checkpoint::load_state(model, &ckpt, LoadMode::Strict)?;
    model.finish_transition();
    let test = evaluate(model, data, &data.test, batch)?;
    log.finish(&test, &model.config.class_names, best_epoch)?;
    let best_val = best_val.ok_or_else(|| Error::Invalid("no epoch produced a checkpoint".into()))?;
    Ok(RunResult { best_epoch, best_val, test, checkpoint: ckpt, seconds: start.elapsed().as_secs_f64() })
}
