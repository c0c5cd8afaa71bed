//! Training-curve parity (`heft parity`): a model is trained for N steps on a fixed list of
//! batches drawn from real data (training order, no augmentation), and the loss of every step
//! and the eval-mode scores at a few steps are compared with the same training in PyTorch,
//! from the same initial weights on the same batches (`tools/reference/curve.py`). Single-step
//! goldens cannot see what goes wrong only over many steps: batch-norm running statistics,
//! the optimiser's state, a recipe default that differs.
//!
//! Training is chaotic: PyTorch started from weights changed by one part in a million strays
//! from its own exact curve by 1e-2 within tens of steps. So PyTorch also trains a few such
//! perturbed copies, and heft's curve is judged by that noise: at step s, heft and PyTorch part
//! when |heft − PyTorch| exceeds `abs` + `factor` × the largest stray of a perturbed PyTorch
//! run up to step s.

use crate::error::{Error, Result};
use crate::nn::model::Model;
use crate::recipe::Recipe;
use crate::step::{self, Batch};
use crate::tensor::Tensor;
use crate::train::Data;
use serde::{Deserialize, Serialize};

/// The batches of a parity run, on the host: every training batch has `batch` images.
pub struct Batches {
    pub batch: usize,
    /// Per step: images (NCHW, flat) and labels.
    pub x: Vec<Vec<f32>>,
    pub labels: Vec<Vec<u32>>,
    /// The class weights of the loss (training split, as a run computes them).
    pub class_weights: Vec<f32>,
    /// A fixed evaluation set (the first images of the validation split).
    pub eval_x: Vec<f32>,
    pub eval_labels: Vec<u32>,
}

/// Draw `steps` full training batches in the order a run with `recipe`'s seed sees them
/// (epoch after epoch, without augmentation) and the first `eval_images` validation images.
pub fn draw(model: &Model, data: &Data, recipe: &Recipe, steps: usize, eval_images: usize) -> Result<Batches> {
    let batch = recipe.batch.min(data.train.len());
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    let mut epoch = 0u64;
    while x.len() < steps {
        let before = x.len();
        for b in data.loader(&data.train, model, batch, Some((None, recipe.seed, epoch))) {
            let b = b?;
            if b.n == batch && x.len() < steps {
                x.push(b.x);
                labels.push(b.labels);
            }
        }
        if x.len() == before {
            return Err(Error::Invalid(format!("no full batch of {batch} readable training images")));
        }
        epoch += 1;
    }
    // a shuffled sample of the validation split (its files are sorted by class)
    let eval = data.loader(&data.val, model, eval_images.min(data.val.len()).max(1), Some((None, recipe.seed, 0))).next();
    let eval = eval.ok_or_else(|| Error::Invalid("the validation split is empty".into()))??;
    let gpu = model.params()[0].value.gpu().clone();
    let class_weights = crate::train::class_weights(&gpu, &data.train, recipe.class_weights)?.to_f32()?;
    Ok(Batches { batch, x, labels, class_weights, eval_x: eval.x, eval_labels: eval.labels })
}

/// Eval-mode scores of the model at one step (before that step's update).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalPoint {
    pub step: usize,
    /// Class-weighted mean cross-entropy, as the training loss weighs it.
    pub loss: f64,
    pub accuracy: f64,
    pub logits: Vec<f32>,
}

/// One side's curve: the loss of every step (before its update) and the eval points.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Curve {
    pub losses: Vec<f64>,
    pub evals: Vec<EvalPoint>,
}

/// Class-weighted mean cross-entropy and accuracy of `logits` [N, K] (f64 on the host).
fn score(logits: &[f32], labels: &[u32], weights: &[f32]) -> (f64, f64) {
    let k = weights.len();
    let (mut num, mut den, mut correct) = (0.0f64, 0.0f64, 0usize);
    for (z, &y) in logits.chunks(k).zip(labels) {
        let m = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let lse = m + z.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        let w = weights[y as usize] as f64;
        num += w * (lse - z[y as usize] as f64);
        den += w;
        // the first maximum, as heft's evaluation and PyTorch's argmax take it
        let best = (0..k).fold(0, |b, c| if z[c] > z[b] { c } else { b });
        correct += (best == y as usize) as usize;
    }
    (num / den, correct as f64 / labels.len().max(1) as f64)
}

/// Train `model` on `b` (distilling `teacher` when given) with `recipe`'s loss and optimiser,
/// one step per batch; eval-mode scores before the steps in `eval_steps` (a step equal to the
/// number of batches scores the end).
pub fn train(model: &mut Model, teacher: Option<&Model>, b: &Batches, recipe: &Recipe, eval_steps: &[usize]) -> Result<Curve> {
    let gpu = model.params()[0].value.gpu().clone();
    let classes = model.config.classes;
    let weights = Tensor::from_f32(&gpu, &b.class_weights, &[classes])?;
    let eval_x = Tensor::from_f32(&gpu, &b.eval_x, &model.in_shape(b.eval_labels.len()))?;
    let mut trainer = recipe.trainer()?;
    trainer.adopt(model)?;
    let model = &*model;
    let mut curve = Curve::default();
    let evaluate = |step: usize, curve: &mut Curve| -> Result<()> {
        if eval_steps.contains(&step) {
            let logits = model.infer(&eval_x)?.to_f32()?;
            let (loss, accuracy) = score(&logits, &b.eval_labels, &b.class_weights);
            curve.evals.push(EvalPoint { step, loss, accuracy, logits });
        }
        Ok(())
    };
    for (s, (x, labels)) in b.x.iter().zip(&b.labels).enumerate() {
        evaluate(s, &mut curve)?;
        let x = Tensor::from_f32(&gpu, x, &model.in_shape(b.batch))?;
        let labels = crate::ops::cross_entropy::labels(&gpu, labels, classes)?;
        let batch = Batch { x: &x, labels: &labels, weights: &weights };
        let out = step::forward_backward(model, teacher, &batch, &recipe.loss(), s as u32, false)?;
        trainer.step(&model.params(), &out.grads)?;
        curve.losses.push(out.loss.to_f32()?[0] as f64);
    }
    evaluate(b.x.len(), &mut curve)?;
    Ok(curve)
}

/// Where two curves are judged apart: |heft − PyTorch| > `abs` + `factor` × PyTorch's own noise.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Tolerance {
    pub abs: f64,
    pub factor: f64,
}

/// PyTorch's side: its curve and the curves of its perturbed copies.
#[derive(Clone, Debug, Deserialize)]
pub struct Peer {
    #[serde(flatten)]
    pub curve: Curve,
    pub noise: Vec<Curve>,
}

/// At each of `n` points, the largest |exact − perturbed| of any noise curve up to that point.
fn envelope(n: usize, exact: impl Fn(&Curve, usize) -> f64, peer: &Peer) -> Vec<f64> {
    let mut worst = 0.0f64;
    (0..n)
        .map(|i| {
            for c in &peer.noise {
                let d = (exact(c, i) - exact(&peer.curve, i)).abs();
                worst = worst.max(if d.is_finite() { d } else { f64::INFINITY });
            }
            worst
        })
        .collect()
}

/// One compared step (or eval point).
#[derive(Clone, Debug, Serialize)]
pub struct StepRow {
    pub step: usize,
    pub heft: f64,
    pub torch: f64,
    pub diff: f64,
    /// PyTorch's own noise up to this point, and the tolerance made from it.
    pub noise: f64,
    pub tol: f64,
}

/// One compared eval point: its loss, both accuracies and the largest logit difference.
#[derive(Clone, Debug, Serialize)]
pub struct EvalRow {
    pub loss: StepRow,
    pub heft_accuracy: f64,
    pub torch_accuracy: f64,
    pub max_logit_diff: f64,
}

/// The comparison of two curves.
#[derive(Clone, Debug, Serialize)]
pub struct Parity {
    pub steps: Vec<StepRow>,
    pub evals: Vec<EvalRow>,
    /// The first training step whose loss is out of tolerance.
    pub parted_at: Option<usize>,
    /// The first eval point whose loss is out of tolerance.
    pub eval_parted_at: Option<usize>,
    /// The largest |Δ loss| over the training steps, and its step.
    pub max_diff: f64,
    pub max_diff_step: usize,
}

fn row(step: usize, heft: f64, torch: f64, noise: f64, tol: Tolerance) -> StepRow {
    // a non-finite loss on either side is a difference, however the other side went
    let diff = if heft.is_finite() && torch.is_finite() { (heft - torch).abs() } else { f64::INFINITY };
    StepRow { step, heft, torch, diff, noise, tol: tol.abs + tol.factor * noise }
}

/// Compare heft's curve with PyTorch's, step by step, against PyTorch's own noise.
pub fn compare(heft: &Curve, peer: &Peer, tol: Tolerance) -> Result<Parity> {
    let torch = &peer.curve;
    let shapes = |c: &Curve| (c.losses.len(), c.evals.iter().map(|e| e.step).collect::<Vec<_>>());
    if peer.noise.is_empty() || std::iter::once(torch).chain(&peer.noise).any(|c| shapes(c) != shapes(heft)) {
        return Err(Error::Invalid(format!(
            "PyTorch's curves do not match heft's {} steps and eval points at {:?} (or no perturbed run came back)",
            heft.losses.len(),
            shapes(heft).1
        )));
    }
    let noise = envelope(heft.losses.len(), |c, i| c.losses[i], peer);
    let steps: Vec<StepRow> = (0..heft.losses.len()).map(|i| row(i + 1, heft.losses[i], torch.losses[i], noise[i], tol)).collect();
    let eval_noise = envelope(heft.evals.len(), |c, i| c.evals[i].loss, peer);
    let mut evals = Vec::new();
    for (i, (h, t)) in heft.evals.iter().zip(&torch.evals).enumerate() {
        let logit_diff = h.logits.iter().zip(&t.logits).fold(0.0f64, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
        let loss = row(h.step, h.loss, t.loss, eval_noise[i], tol);
        evals.push(EvalRow { loss, heft_accuracy: h.accuracy, torch_accuracy: t.accuracy, max_logit_diff: logit_diff });
    }
    let parted_at = steps.iter().find(|r| r.diff > r.tol).map(|r| r.step);
    let eval_parted_at = evals.iter().find(|e| e.loss.diff > e.loss.tol).map(|e| e.loss.step);
    let (max_diff, max_diff_step) = steps.iter().fold((0.0, 0), |m, r| if r.diff > m.0 { (r.diff, r.step) } else { m });
    Ok(Parity { steps, evals, parted_at, eval_parted_at, max_diff, max_diff_step })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weighted cross-entropy of two samples by hand: logits (0, ln 3) → p = (1/4, 3/4).
    #[test]
    fn score_is_the_weighted_mean_cross_entropy() {
        let (loss, acc) = score(&[0.0, 3f32.ln(), 0.0, 3f32.ln()], &[0, 1], &[2.0, 1.0]);
        let want = (2.0 * 4f64.ln() + (4.0f64 / 3.0).ln()) / 3.0;
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
        assert_eq!(acc, 0.5);
    }

    fn curve(losses: &[f64]) -> Curve {
        Curve { losses: losses.to_vec(), evals: vec![] }
    }

    #[test]
    fn a_non_finite_loss_parts_the_curves() {
        let peer = Peer { curve: curve(&[0.7, 0.69]), noise: vec![curve(&[0.7, 0.68])] };
        let p = compare(&curve(&[0.7, f64::NAN]), &peer, Tolerance { abs: 1e-3, factor: 3.0 }).unwrap();
        assert_eq!(p.parted_at, Some(2));
    }

    /// The tolerance at a step grows with the largest noise seen up to it, never shrinks.
    #[test]
    fn the_tolerance_follows_the_running_maximum_of_the_noise() {
        let peer = Peer { curve: curve(&[1.0, 1.0, 1.0]), noise: vec![curve(&[1.0, 1.1, 1.0]), curve(&[1.0, 0.95, 1.0])] };
        let p = compare(&curve(&[1.0, 1.2, 1.25]), &peer, Tolerance { abs: 0.0, factor: 2.0 }).unwrap();
        let tols: Vec<f64> = p.steps.iter().map(|r| r.tol).collect();
        assert!((tols[1] - 0.2).abs() < 1e-9 && (tols[2] - 0.2).abs() < 1e-9 && tols[0] == 0.0, "{tols:?}");
        assert_eq!(p.parted_at, Some(3), "{:?}", p.steps);
    }
}
