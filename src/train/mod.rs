//! Training loops for the teacher (class-weighted CE) and the student (CE + α·T²·KD from the
//! frozen teacher, optional range-awareness loss, ReLU→polynomial schedule): Adam with a
//! plateau learning-rate schedule, validation every epoch, the best checkpoint kept, metrics as
//! JSON lines and PNG plots.

use crate::data::loader::{Loader, LoaderCfg};
use crate::data::{augment::Augment, image::Normalize, Dataset};
use crate::error::{Error, Result};
use crate::nn::checkpoint::{self, LoadMode};
use crate::nn::convert::Schedule;
use crate::nn::functional as F;
use crate::nn::layers::Ctx;
use crate::nn::model::Model;
use crate::ops::optim::AdamCfg;
use crate::optim::{Clip, Trainer};
use crate::report::log::MetricsLog;
use crate::report::metrics::{Confusion, Summary};
use crate::report::plot;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::Gpu;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Hyper-parameters of one training run (defaults: the paper's recipe, see DESIGN.md, except
/// the batch: 32 instead of 200, for small GPUs and lavapipe).
#[derive(Clone, Debug, Serialize)]
pub struct Recipe {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub weight_decay: f32,
    /// Learning rate of the activation coefficients (student).
    pub coef_lr: f32,
    #[serde(skip)]
    pub clip: Clip,
    pub seed: u64,
    /// Plateau schedule on the validation loss: factor, patience (epochs), floor.
    pub plateau: (f32, usize, f32),
    pub augment: bool,
    /// Weight CE by inverse class frequency (of the training set).
    pub class_weights: bool,
    /// Distillation weight α and temperature T (student).
    pub kd_alpha: f32,
    pub kd_t: f32,
    /// Range-awareness weight (0: off) and bound R (student).
    pub range_weight: f32,
    pub range_r: f32,
    #[serde(skip)]
    pub schedule: Schedule,
    /// Keep going when the loss becomes NaN/inf instead of stopping.
    pub continue_with_nans: bool,
    pub progress: bool,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            epochs: 10,
            batch: 32,
            lr: 1e-3,
            weight_decay: 5e-4,
            coef_lr: 2e-4,
            clip: Clip::None,
            seed: 123,
            plateau: (0.5, 2, 1e-5),
            augment: true,
            class_weights: true,
            kd_alpha: 0.1,
            kd_t: 10.0,
            range_weight: 0.0,
            range_r: 10.0,
            schedule: Schedule::AllAtOnce,
            continue_with_nans: false,
            progress: true,
        }
    }
}

/// The three splits and how images become tensors.
pub struct Data {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
    pub norm: Normalize,
    pub strict: bool,
}

impl Data {
    /// Training order (shuffled, augmented when asked) or evaluation order. A training epoch
    /// drops a last batch of a single image: batch norm needs two values per channel.
    fn loader(&self, ds: &Dataset, model: &Model, batch: usize, train: Option<(Option<Augment>, u64, u64)>) -> Loader {
        let (augment, seed, epoch) = train.unwrap_or((None, 0, 0));
        let cfg = LoaderCfg {
            size: model.config.input,
            channels: model.config.in_channels,
            batch,
            shuffle: train.is_some(),
            augment,
            norm: self.norm,
            seed,
            strict: self.strict,
            reject_truncated: self.strict,
            drop_last: train.is_some() && ds.len() % batch == 1,
        };
        Loader::new(ds, cfg, epoch)
    }
}

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

fn class_weights(gpu: &Gpu, ds: &Dataset, on: bool) -> Result<Tensor> {
    let counts = ds.class_counts();
    let w: Vec<f32> = counts.iter().map(|&c| if on && c > 0 { 1.0 / c as f32 } else { 1.0 }).collect();
    let sum: f32 = w.iter().sum();
    Tensor::from_f32(gpu, &w.iter().map(|v| v * w.len() as f32 / sum).collect::<Vec<_>>(), &[w.len()])
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

/// What a training run produced.
pub struct RunResult {
    pub best_epoch: usize,
    pub best_val: Summary,
    pub test: Eval,
    pub checkpoint: PathBuf,
    pub seconds: f64,
}

fn step_seed(seed: u64, epoch: usize, step: usize) -> u32 {
    crate::rng::derive(&[seed, epoch as u64, step as u64]) as u32
}

/// Train `model` (teacher when `teacher` is None, else the student distilled from it). The
/// best epoch by validation macro-F1 is saved as `<out>/<phase>.safetensors` and reloaded
/// into `model` before the test evaluation.
pub fn train(model: &mut Model, teacher: Option<&Model>, data: &Data, recipe: &Recipe, out: &Path, phase: &str) -> Result<RunResult> {
    let gpu = model.params()[0].value.gpu().clone();
    if data.train.is_empty() || data.val.is_empty() {
        return Err(Error::Invalid("training needs non-empty train and validation sets".into()));
    }
    if recipe.epochs == 0 {
        return Err(Error::Invalid("training needs at least one epoch".into()));
    }
    // a student is only a candidate for "best" once every activation is fully polynomial
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
        eprintln!(
            "warning: batch {} is larger than the {} training images; using batch {batch} (one step per epoch)",
            recipe.batch,
            data.train.len()
        );
    }
    std::fs::create_dir_all(out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
    let ckpt = out.join(format!("{phase}.safetensors"));
    let mut log = MetricsLog::create(&out.join(format!("{phase}_metrics.jsonl")))?;
    let weights = class_weights(&gpu, &data.train, recipe.class_weights)?;
    let mut trainer = Trainer::adam(AdamCfg { lr: recipe.lr, weight_decay: recipe.weight_decay, ..Default::default() });
    trainer.coef_lr = Some(recipe.coef_lr);
    trainer.clip = recipe.clip;
    let augment = recipe.augment.then(Augment::default);
    let (mut best_f1, mut best_loss, mut best_epoch) = (-1.0f64, f64::INFINITY, 0usize);
    let mut best_val: Option<Summary> = None;
    let (mut plateau_best, mut bad_epochs) = (f64::INFINITY, 0usize);
    let mut history: (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) = Default::default();
    let start = Instant::now();
    for epoch in 0..recipe.epochs {
        let ratios = if model.config.student.is_some() { recipe.schedule.ratios(n_act, epoch) } else { vec![] };
        for (a, r) in model.activations_mut().into_iter().zip(&ratios) {
            a.ratio = *r;
        }
        let t0 = Instant::now();
        let mut loader = data.loader(&data.train, model, batch, Some((augment, recipe.seed, epoch as u64)));
        let bar = progress(recipe.progress, data.train.len(), &format!("{phase} {}/{}", epoch + 1, recipe.epochs));
        let mut conf = Confusion::new(&model.config.class_names);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut step = 0;
        for b in loader.by_ref() {
            let b = b?;
            let x = Tensor::from_f32(&gpu, &b.x, &[b.n, model.config.in_channels, model.config.input, model.config.input])?;
            let labels = crate::ops::cross_entropy::labels(&gpu, &b.labels, model.config.classes)?;
            let mut tape = Tape::new();
            let mut ctx = Ctx { act_inputs: (recipe.range_weight > 0.0).then(Vec::new), ..Ctx::train(step_seed(recipe.seed, epoch, step)) };
            let logits = model.forward(&mut tape, &Var::constant(x.clone()), &mut ctx)?;
            let mut loss = F::cross_entropy(&mut tape, &logits, &labels, &weights)?;
            if let Some(t) = teacher {
                let tl = t.infer(&x)?;
                let kd = F::distill(&mut tape, &logits, &tl, recipe.kd_t)?;
                loss = F::add(&mut tape, &loss, &kd, 1.0, recipe.kd_alpha)?;
            }
            for (_, input) in ctx.act_inputs.take().unwrap_or_default() {
                let pen = F::range_penalty(&mut tape, &input, recipe.range_r)?;
                loss = F::add(&mut tape, &loss, &pen, 1.0, recipe.range_weight)?;
            }
            let l = loss.value.to_f32()?[0];
            if !l.is_finite() {
                if !recipe.continue_with_nans {
                    return Err(Error::Invalid(format!(
                        "{phase}: the loss became {l} at epoch {} step {step}; lower --lr, clip gradients (--clip-value 1) \
                         or pass --continue-with-nans. The best checkpoint so far is {}",
                        epoch + 1,
                        ckpt.display()
                    )));
                }
                // skip the update: non-finite gradients would poison the weights and moments
                step += 1;
                bar.inc(b.n as u64);
                continue;
            }
            let grads = tape.backward(&loss)?;
            trainer.step(&model.params(), &grads)?;
            conf.add_batch(&b.labels, &logits.value.to_f32()?, model.config.classes)?;
            loss_sum += l as f64 * b.n as f64;
            seen += b.n;
            step += 1;
            bar.set_message(format!("loss {:.4}", loss_sum / seen as f64));
            bar.inc(b.n as u64);
        }
        bar.finish_and_clear();
        if seen == 0 {
            return Err(Error::Invalid("no training image could be read".into()));
        }
        let train_secs = t0.elapsed().as_secs_f64();
        let val = evaluate(model, data, &data.val, batch)?;
        let train_loss = loss_sum / seen as f64;
        let candidate = epoch >= first_candidate;
        let improved = candidate && (val.summary.macro_f1 > best_f1 || (val.summary.macro_f1 == best_f1 && val.loss < best_loss));
        if improved {
            (best_f1, best_loss, best_epoch) = (val.summary.macro_f1, val.loss, epoch + 1);
            best_val = Some(val.summary.clone());
            checkpoint::save(model, &ckpt)?;
        }
        // plateau schedule on the validation loss
        if val.loss < plateau_best {
            (plateau_best, bad_epochs) = (val.loss, 0);
        } else {
            bad_epochs += 1;
            if bad_epochs > recipe.plateau.1 {
                // like ReduceLROnPlateau: every group's rate, never below the floor
                let cut = |lr: f32| if lr > recipe.plateau.2 { (lr * recipe.plateau.0).max(recipe.plateau.2) } else { lr };
                trainer.lr = cut(trainer.lr);
                trainer.coef_lr = trainer.coef_lr.map(cut);
                bad_epochs = 0;
            }
        }
        let record = json!({
            "phase": phase, "epoch": epoch + 1, "lr": trainer.lr, "train_loss": train_loss,
            "train_accuracy": conf.accuracy(), "val_loss": val.loss, "val_accuracy": val.summary.accuracy,
            "val_macro_f1": val.summary.macro_f1, "ratios": ratios, "act_ranges": val.ranges,
            "images_per_s": seen as f64 / train_secs, "seconds": start.elapsed().as_secs_f64(),
            "skipped_images": loader.skipped(), "best": improved,
        });
        log.write(&record)?;
        if recipe.progress {
            eprintln!(
                "{phase} epoch {}/{}: train loss {train_loss:.4} acc {:.3} | val loss {:.4} acc {:.3} F1 {:.3}{} | {:.0} img/s",
                epoch + 1,
                recipe.epochs,
                conf.accuracy(),
                val.loss,
                val.summary.accuracy,
                val.summary.macro_f1,
                if improved { " *" } else { "" },
                seen as f64 / train_secs
            );
        }
        history.0.push(train_loss);
        history.1.push(val.loss);
        history.2.push(conf.accuracy());
        history.3.push(val.summary.accuracy);
    }
    checkpoint::load_state(model, &ckpt, LoadMode::Strict)?;
    model.finish_transition();
    let test = evaluate(model, data, &data.test, batch)?;
    let mut conf = Confusion::new(&model.config.class_names);
    conf.counts = test.summary.confusion.clone();
    let plots = [
        plot::line_chart(&out.join(format!("{phase}_loss.png")), &format!("{phase} loss"), &[("train", &history.0), ("val", &history.1)]),
        plot::line_chart(&out.join(format!("{phase}_accuracy.png")), &format!("{phase} accuracy"), &[("train", &history.2), ("val", &history.3)]),
        plot::confusion_png(&out.join(format!("{phase}_confusion.png")), &format!("{phase} test confusion"), &conf),
    ];
    for e in plots.into_iter().filter_map(|r| r.err()) {
        eprintln!("warning: a plot was not written: {e}");
    }
    log.write(&json!({ "phase": phase, "test": test.summary, "test_loss": test.loss, "act_ranges": test.ranges, "best_epoch": best_epoch }))?;
    let best_val = best_val.ok_or_else(|| Error::Invalid("no epoch produced a checkpoint".into()))?;
    Ok(RunResult { best_epoch, best_val, test, checkpoint: ckpt, seconds: start.elapsed().as_secs_f64() })
}

/// A progress bar over `len` images on stderr (hidden when `show` is false).
pub(crate) fn progress(show: bool, len: usize, prefix: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} img {per_sec} ETA {eta} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(prefix.to_string());
    bar
}
