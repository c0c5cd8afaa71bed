//! The whole-model suite of `heft check` (and `--against DUMP`): a PyTorch dump's forward,
//! loss and every parameter gradient of one training step, then the loss of every later Adam
//! step from PyTorch's own parameters at that step (teacher forcing), and the free-running
//! Adam trajectory for information. Rows are in execution order: forward, then the backward
//! from the output towards the input, so the first failing row names where heft diverges.

use super::compare::{compare, Row};
use super::dump::{load, Dump};
use super::golden::Golden;
use crate::error::{Error, Result};
use crate::nn::model::Model;
use crate::ops::optim::AdamCfg;
use crate::optim::Trainer;
use crate::step;
use crate::tape::{Grads, Param};
use crate::tensor::Tensor;
use crate::Gpu;

/// One training-mode step on the dump's batch (the training step itself, cross-entropy only,
/// dropout seed 0): logits, class-weighted mean cross-entropy and every parameter's gradient.
fn golden_step(model: &Model, x: &Tensor, labels: &Tensor, class_weights: &Tensor) -> Result<(Tensor, Tensor, Grads)> {
    let batch = step::Batch { x, labels, weights: class_weights };
    let s = step::forward_backward(model, None, &batch, &step::Loss::cross_entropy(), 0, false)?;
    Ok((s.logits, s.loss, s.grads))
}

/// The layer a parameter belongs to: its name without the tensor (`.weight`, `.coef`, …) and
/// without the `.bn` of a batch norm that follows the layer.
fn layer_of(name: &str) -> &str {
    let layer = name.rsplit_once('.').map_or(name, |(l, _)| l);
    layer.strip_suffix(".bn").unwrap_or(layer)
}

/// Parameters in the order the backward pass produces their gradients: layers from the output
/// towards the input and, within a layer, the batch norm after it before its own weights.
fn backward_order(params: Vec<&Param>) -> Vec<&Param> {
    let mut layers: Vec<&str> = Vec::new();
    for p in &params {
        if !layers.contains(&layer_of(&p.name)) {
            layers.push(layer_of(&p.name));
        }
    }
    let mut out = params.clone();
    out.sort_by_key(|p| layers.iter().position(|l| *l == layer_of(&p.name)));
    out.reverse();
    out
}

/// Whole-model comparison of the dump `g` (format: data/reference/README.md). What the dump
/// does not hold (a tensor, the Adam settings, the trajectory or a step's parameters) is listed
/// as not checked.
pub fn model(gpu: &Gpu, name: &str, g: &Golden) -> Result<Vec<Row>> {
    let Dump { model, class_weights, adam } = Dump::read(gpu, g).map_err(|e| match e {
        Error::Invalid(m) if !m.starts_with(name) => Error::Invalid(format!("{name}: {m}")),
        e => e,
    })?;
    let x = g.upload(gpu, "x")?;
    let labels = g.labels(gpu, "labels", model.config.classes)?;
    let (logits, loss, grads) = golden_step(&model, &x, &labels, &class_weights)?;
    let row = |case: &str, got: &[f32], want: &str, atol: f64, rtol: f64| match g.data(want) {
        Ok(want) => compare(name, case, got, want, atol, rtol),
        Err(_) => Row::not_checked(name, &format!("{case}: the dump has no {want}")),
    };
    // logits and loss go through every layer's f32 sums and BN's divisions by small variances
    let mut rows = vec![row("logits", &logits.to_f32()?, "logits", 1e-4, 1e-3), row("loss", &loss.to_f32()?, "loss", 1e-5, 1e-4)];
    for p in backward_order(model.params()) {
        let got = grads.get(&p.id).ok_or_else(|| Error::Invalid(format!("no gradient for {}", p.name)))?;
        let want = format!("grad/{}", p.name);
        // f32 on both sides with different summation orders, through BN and x²: 1e-4 of the
        // tensor's largest gradient, at least 1e-6 (a conv bias followed by training-mode BN has
        // a true gradient of 0: both sides hold rounding noise), and 1e-2 relative (BN over 2
        // values per channel, data/reference/README.md: 2e-4 relative in f32 itself)
        let scale = g.data(&want).map_or(0.0, |w| w.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64)));
        rows.push(row(&format!("grad {}", p.name), &got.to_f32()?, &want, 1e-4 * scale.max(1e-2), 1e-2));
    }
    match (adam, g.data("trajectory").is_ok()) {
        (Some(adam), true) => rows.extend(adam_steps(name, g, &model, (&x, &labels, &class_weights), adam, loss, grads)?),
        (None, _) => rows.push(Row::not_checked(name, "Adam steps: the dump has no adam settings")),
        (_, false) => rows.push(Row::not_checked(name, "Adam steps: the dump has no trajectory")),
    }
    Ok(rows)
}

/// The Adam steps after the first: each step's loss from PyTorch's parameters before it
/// (`step<k>/`, teacher forcing; not checked where the dump lacks them), then heft's own
/// free-running trajectory for information.
fn adam_steps(name: &str, g: &Golden, model: &Model, batch: (&Tensor, &Tensor, &Tensor), adam: AdamCfg, loss: Tensor, grads: Grads) -> Result<Vec<Row>> {
    let (x, labels, class_weights) = batch;
    let want_traj = g.data("trajectory")?;
    // free-running: heft's own Adam steps from the same start; error compounds across steps
    // (a step that moves a parameter by ±lr on a rounding-noise gradient), so information only
    let mut trainer = Trainer::adam(adam);
    let mut trajectory = vec![loss.to_f32()?[0]];
    trainer.step(&model.params(), &grads)?;
    for _ in 1..want_traj.len() {
        let (_, loss, grads) = golden_step(model, x, labels, class_weights)?;
        trajectory.push(loss.to_f32()?[0]);
        trainer.step(&model.params(), &grads)?;
    }
    // teacher forcing: step k's loss from PyTorch's parameters before step k, with the loss
    // row's tolerance, so each step is judged on its own
    let mut rows = Vec::new();
    let cases = g.cases();
    for k in 1..want_traj.len() {
        let case = format!("step {} loss (teacher forced)", k + 1);
        if !cases.contains(&format!("step{k}")) {
            rows.push(Row::not_checked(name, &format!("{case}: the dump has no step{k}/ parameters")));
            continue;
        }
        load(model, g, &format!("step{k}/"), false)?;
        let (_, loss, _) = golden_step(model, x, labels, class_weights)?;
        rows.push(compare(name, &case, &loss.to_f32()?, &want_traj[k..=k], 1e-5, 1e-4));
    }
    rows.push(compare(name, &format!("{}-step Adam losses (free-running)", want_traj.len()), &trajectory, want_traj, 1e-4, 1e-3).info());
    Ok(rows)
}
