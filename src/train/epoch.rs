//! One epoch of a run: set the student's ReLU→polynomial ratios, run a step (`crate::step`)
//! per batch and apply the optimiser with the divergence guard watching (`guard`: no read-back
//! per step; bad windows rolled back), then validate, keep the best checkpoint (by macro-F1,
//! then loss), cut the learning rates on a plateau, log the epoch and write the epoch state.

use super::eval::evaluate;
use super::guard::{Rollback, Verdict};
use super::progress::Best;
use super::run::Run;
use super::runlog::EpochRecord;
use crate::nn::eval::{beyond, NamedPeak};
use super::state;
use crate::data::augment::Augment;
use crate::data::loader::Batch as LoadedBatch;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::checkpoint;
use crate::nn::model::Model;
use crate::report::metrics::Confusion;
use crate::step::{self, Batch};
use crate::tensor::Tensor;
use std::time::Instant;

fn step_seed(seed: u64, epoch: usize, step: usize) -> u32 {
    crate::rng::derive(&[seed, epoch as u64, step as u64]) as u32
}

/// A loaded batch on the GPU: images, labels and the image count.
fn upload(gpu: &Gpu, model: &Model, b: Result<LoadedBatch>) -> Result<(Tensor, Tensor, usize)> {
    let b = b?;
    let x = Tensor::from_f32(gpu, &b.x, &model.in_shape(b.n))?;
    let labels = crate::ops::cross_entropy::labels(gpu, &b.labels, model.config.classes)?;
    Ok((x, labels, b.n))
}

/// What the training steps of an epoch measured (over the windows the guard kept).
struct Steps {
    loss_sum: f64,
    images: usize,
    confusion: Confusion,
    skipped: usize,
    seconds: f64,
}

impl Run<'_> {
    /// The error of a run the guard stopped, with the best checkpoint saved so far, if any.
    fn stopped(&self, e: Error) -> Error {
        let ckpt = self.files.checkpoint();
        let kept = if ckpt.exists() { format!(" The best checkpoint so far is {}", ckpt.display()) } else { String::new() };
        Error::Invalid(format!("{}: {e}.{kept}", self.files.phase))
    }

    fn rolled_back(&mut self, r: &Rollback) -> Result<()> {
        if self.recipe.progress {
            eprintln!("{}: {}; rolled back to epoch {} step {}, learning rate now {:e}", self.files.phase, r.reason, r.restored.0, r.restored.1, r.lr);
        }
        self.log.rollback(r)
    }

    /// Train and validate the next epoch, log it and write the epoch state (the commit point:
    /// a killed run resumes after it).
    pub fn epoch(&mut self) -> Result<()> {
        let epoch = self.progress.epochs_done;
        let n_act = self.model.activations().len();
        let ratios = if self.model.config.student.is_some() { self.recipe.schedule.ratios(n_act, epoch) } else { vec![] };
        for (a, r) in self.model.activations_mut().into_iter().zip(&ratios) {
            a.ratio = *r;
        }
        let steps = self.steps(epoch)?;
        if steps.images == 0 && self.guard.rollbacks == 0 {
            return Err(Error::Invalid("no training image could be read".into()));
        }
        let val = evaluate(self.model, self.data, &self.data.val, self.batch)?;
        let rejected = self.guard.validate(self.model, &mut self.trainer, &val, epoch).map_err(|e| self.stopped(e))?;
        if let Some(r) = &rejected {
            self.rolled_back(r)?;
        }
        // an epoch the guard rejected (a student blowing up in eval mode) is never the best,
        // however its argmax scores
        let candidate = epoch >= self.first_candidate && rejected.is_none();
        let improved = candidate && self.progress.best.beaten_by(val.summary.macro_f1, val.loss);
        if improved {
            self.progress.best = Best { f1: val.summary.macro_f1, loss: val.loss, epoch: epoch + 1, val: Some(val.summary.clone()) };
        }
        self.progress.plateau.update(val.loss, self.recipe, &mut self.trainer);
        (self.progress.epochs_done, self.progress.seconds) = (epoch + 1, self.seconds());
        let memory = self.model.params()[0].value.gpu().memory();
        // a student's: the validation images beyond R, and the one furthest out
        let student = self.model.config.student.is_some();
        let beyond_range = student.then(|| beyond(&val.peaks, self.recipe.range).len());
        let worst = student.then(|| beyond(&val.peaks, 0.0).first().map(|p| NamedPeak::of(p, &self.data.val, &val.ranges))).flatten();
        self.log.epoch(&EpochRecord {
            phase: self.files.phase.to_string(),
            epoch: epoch + 1,
            lr: self.trainer.lr,
            train_loss: steps.loss_sum / steps.images as f64,
            train_accuracy: steps.confusion.accuracy(),
            val_loss: val.loss,
            val_accuracy: val.summary.accuracy,
            val_macro_f1: val.summary.macro_f1,
            ratios,
            val_images_beyond_range: beyond_range,
            val_worst_image: worst,
            act_ranges: val.ranges,
            images_per_s: steps.images as f64 / steps.seconds,
            seconds: self.progress.seconds,
            skipped_images: steps.skipped,
            best: improved,
            gpu_bytes: memory.allocated,
            gpu_high_water_bytes: memory.high_water,
        })?;
        // the state is the commit point of the epoch; the checkpoint follows it (a resumed run
        // writes it again from the state)
        state::save(&self.files.state(), &self.fingerprint, self.model, &self.trainer, &self.guard, &self.progress, &self.log)?;
        if improved {
            checkpoint::save(self.model, &self.files.checkpoint())?;
        }
        Ok(())
    }

    /// The training steps of `epoch`, each batch uploaded while the step before is queued.
    fn steps(&mut self, epoch: usize) -> Result<Steps> {
        let t0 = Instant::now();
        let (data, recipe) = (self.data, self.recipe);
        let gpu = self.model.params()[0].value.gpu().clone();
        let augment = recipe.augment.then(Augment::default);
        let mut loader = data.loader(&data.train, self.model, self.batch, Some((augment, recipe.seed, epoch as u64)));
        let bar = self.log.bar(epoch, data.train.len());
        let mut confusion = Confusion::new(&self.model.config.class_names);
        let (mut loss_sum, mut images) = (0.0f64, 0usize);
        let loss_cfg = recipe.loss();
        let mut batches = loader.by_ref().enumerate();
        let mut next = batches.next().map(|(i, b)| upload(&gpu, self.model, b).map(|u| (i, u)));
        while let Some(current) = next {
            let (i, (x, labels, n)) = current?;
            bar.inc(n as u64);
            let batch = Batch { x: &x, labels: &labels, weights: &self.class_weights };
            let s = step::forward_backward(self.model, self.teacher.as_ref(), &batch, &loss_cfg, step_seed(recipe.seed, epoch, i), self.guard.wants_ranges())?;
            self.guard.record(&s, &labels, n)?;
            self.trainer.step(&self.model.params(), &s.grads)?;
            // the next batch is uploaded while this step's work is queued, before a check
            // waits for the GPU
            next = batches.next().map(|(i, b)| upload(&gpu, self.model, b).map(|u| (i, u)));
            let last = next.is_none();
            if !self.guard.due(last) {
                continue;
            }
            match self.guard.check(self.model, &mut self.trainer, (epoch, i), last).map_err(|e| self.stopped(e))? {
                Verdict::Good { loss_sum: l, images: k, counts } => {
                    confusion.add_counts(&counts)?;
                    (loss_sum, images) = (loss_sum + l, images + k);
                    bar.set_message(format!("loss {:.4}", loss_sum / images.max(1) as f64));
                }
                Verdict::RolledBack(r) => bar.suspend(|| self.rolled_back(&r))?,
            }
        }
        bar.finish_and_clear();
        Ok(Steps { loss_sum, images, confusion, skipped: loader.skipped(), seconds: t0.elapsed().as_secs_f64() })
    }
}
