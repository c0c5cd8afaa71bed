//! A depth budget for a student (`--depth-budget D`): linearise activations one at a time,
//! greedily, until the CKKS depth `he::depth` counts is at most D. Each round tries every
//! activation that still has its x² term on its own (c2 set to 0, c0 and c1 kept), measures
//! the validation loss, and keeps the one that costs the least loss per level it saves (an
//! activation between two Linears saves two: its own level and the merged Linear's). The
//! student is then trained with distillation as usual, so the kept activations adapt.

use super::data::Data;
use super::eval::evaluate;
use crate::error::{Error, Result};
use crate::he;
use crate::nn::layers::ActKind;
use crate::nn::linearise::linearise;
use crate::nn::model::Model;

/// The depth `he::depth` counts for `model`.
pub fn depth_of(model: &Model) -> usize {
    he::depth(model).iter().map(|c| c.depth).max().unwrap_or(0)
}

/// What the budget chose.
pub struct Choice {
    pub depth_before: usize,
    pub depth: usize,
    /// Linearised, in the order chosen, with the validation loss after each.
    pub linearised: Vec<(String, f64)>,
    /// Activations that kept their x² term.
    pub kept: Vec<String>,
}

/// The validation loss of `model` with activation `name` made affine, and the depth it would
/// have; the model is left as it was.
fn try_one(model: &mut Model, name: &str, data: &Data, batch: usize) -> Result<(f64, usize)> {
    let config = model.config.clone();
    let act = model.activations().into_iter().find(|a| a.name == name).ok_or_else(|| Error::Invalid(format!("no activation {name}")))?;
    let (kind, coef) = (act.kind, act.coef.as_ref().map(|c| c.value.deep_clone().map(|v| (v, c.frozen))).transpose()?);
    linearise(model, &[name.to_string()])?;
    let result = evaluate(model, data, &data.val, batch).map(|e| (e.loss, depth_of(model)));
    for a in model.activations_mut().into_iter().filter(|a| a.name == name) {
        a.kind = kind;
        if let (Some(c), Some((v, frozen))) = (a.coef.as_mut(), coef.clone()) {
            (c.value, c.frozen) = (v, frozen);
        }
    }
    model.config = config;
    result
}

/// Linearise activations of the student `model` until its depth is at most `budget`.
pub fn fit_budget(model: &mut Model, budget: usize, data: &Data, batch: usize, progress: bool) -> Result<Choice> {
    let depth_before = depth_of(model);
    let mut linearised = Vec::new();
    let mut depth = depth_before;
    // the validation loss of the model as it stands: measured once, then the winner's of each round
    let mut loss_now = if depth > budget { evaluate(model, data, &data.val, batch)?.loss } else { 0.0 };
    while depth > budget {
        let candidates: Vec<String> = model.activations().iter().filter(|a| a.kind != ActKind::Affine).map(|a| a.name.clone()).collect();
        if candidates.is_empty() {
            return Err(Error::Invalid(format!("a depth budget of {budget} is out of reach: with every activation linearised the depth is {depth}")));
        }
        let mut best: Option<(f64, String, f64, usize)> = None; // (score, name, loss, depth)
        for name in candidates {
            let (loss, d) = try_one(model, &name, data, batch)?;
            // a loss that is not finite ranks last
            let saved = depth.saturating_sub(d).max(1) as f64;
            let score = if loss.is_finite() { (loss - loss_now) / saved } else { f64::INFINITY };
            if progress {
                eprintln!("depth budget {budget}: {name} affine → depth {d}, validation loss {loss:.4}");
            }
            if best.as_ref().is_none_or(|b| score < b.0) {
                best = Some((score, name, loss, d));
            }
        }
        let Some((_, name, loss, d)) = best else { break };
        linearise(model, std::slice::from_ref(&name))?;
        linearised.push((name, loss));
        (depth, loss_now) = (d, loss);
    }
    let kept = model.activations().iter().filter(|a| a.kind != ActKind::Affine).map(|a| a.name.clone()).collect();
    Ok(Choice { depth_before, depth, linearised, kept })
}
