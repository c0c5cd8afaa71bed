//! Optimisers over tape gradients: Adam/AdamW and SGD with momentum, with per-kind learning
//! rates (activation coefficients get their own, as in the paper's recipe) and optional
//! gradient clipping by value or by global norm, which the update applies as it reads each
//! gradient (no pass of its own). State lives on the GPU; nothing is read back.

use crate::error::{Error, Result};
use crate::ops::optim::{self as kernels, AdamCfg, GradClip};
use crate::ops::elementwise;
use crate::tape::{Grads, Param, ParamId, ParamKind};
use crate::tensor::Tensor;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    None,
    /// Clamp every gradient element to [-v, v].
    Value(f32),
    /// Scale all gradients so their global L2 norm is at most v.
    Norm(f32),
}

impl Clip {
    /// The clipping of a clamp threshold or a norm threshold (at most one; both positive).
    pub fn from_thresholds(value: Option<f32>, norm: Option<f32>) -> Result<Clip> {
        match (value, norm) {
            (None, None) => Ok(Clip::None),
            (Some(_), Some(_)) => Err(Error::Invalid("clip by value or by norm, not both".into())),
            (Some(v), None) if v > 0.0 => Ok(Clip::Value(v)),
            (None, Some(v)) if v > 0.0 => Ok(Clip::Norm(v)),
            _ => Err(Error::Invalid("clipping thresholds must be positive".into())),
        }
    }
}

/// The optimisers by name, as the command line (`--optimizer`) and experiment files spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

pub enum Optimizer {
    /// Per parameter: first and second moments and its own step count (as PyTorch keeps them:
    /// a coefficient that starts training late gets the bias correction of its first step).
    Adam { cfg: AdamCfg, state: HashMap<ParamId, (Tensor, Tensor, u64)> },
    Sgd { momentum: f32, weight_decay: f32, state: HashMap<ParamId, Tensor> },
}

/// A copy of an optimiser's per-parameter state (moments, momentum buffers, step counts), for
/// rolling a diverged run back.
pub struct OptState(Vec<(ParamId, Vec<Tensor>, u64)>);

impl OptState {
    /// Per parameter with state: its id, its tensors (as `Trainer::entries`) and its step count.
    pub fn entries(&self) -> Vec<(ParamId, Vec<&Tensor>, u64)> {
        self.0.iter().map(|(id, t, step)| (*id, t.iter().collect(), *step)).collect()
    }

    /// A state from `entries` in the form `entries` gives (read back from a file).
    pub fn from_entries(entries: Vec<(ParamId, Vec<Tensor>, u64)>) -> OptState {
        OptState(entries)
    }
}

/// Optimiser with its learning rates: `lr` for every parameter, `coef_lr` for activation
/// coefficients (None: same as `lr`).
pub struct Trainer {
    pub opt: Optimizer,
    pub lr: f32,
    pub coef_lr: Option<f32>,
    pub clip: Clip,
}

impl Trainer {
    pub fn adam(cfg: AdamCfg) -> Trainer {
        Trainer { lr: cfg.lr, opt: Optimizer::Adam { cfg, state: HashMap::new() }, coef_lr: None, clip: Clip::None }
    }

    pub fn sgd(lr: f32, momentum: f32, weight_decay: f32) -> Trainer {
        Trainer { lr, opt: Optimizer::Sgd { momentum, weight_decay, state: HashMap::new() }, coef_lr: None, clip: Clip::None }
    }

    /// A copy of the per-parameter state, made on the GPU.
    pub fn save_state(&self) -> Result<OptState> {
        let mut out = Vec::new();
        match &self.opt {
            Optimizer::Adam { state, .. } => {
                for (id, (m, v, step)) in state {
                    out.push((*id, vec![m.deep_clone()?, v.deep_clone()?], *step));
                }
            }
            Optimizer::Sgd { state, .. } => {
                for (id, buf) in state {
                    out.push((*id, vec![buf.deep_clone()?], 0));
                }
            }
        }
        Ok(OptState(out))
    }

    /// Per parameter with state, as it is (no copy): its id, its tensors (Adam: first and
    /// second moments; SGD: the momentum buffer) and its step count (0 for SGD).
    pub fn entries(&self) -> Vec<(ParamId, Vec<&Tensor>, u64)> {
        match &self.opt {
            Optimizer::Adam { state, .. } => state.iter().map(|(id, (m, v, step))| (*id, vec![m, v], *step)).collect(),
            Optimizer::Sgd { state, .. } => state.iter().map(|(id, buf)| (*id, vec![buf], 0)).collect(),
        }
    }

    /// Tensors per parameter in this optimiser's state: 2 (Adam) or 1 (SGD).
    pub fn tensors_per_param(&self) -> usize {
        match self.opt {
            Optimizer::Adam { .. } => 2,
            Optimizer::Sgd { .. } => 1,
        }
    }

    /// Back to `saved` (state created since is dropped; `saved` stays usable).
    pub fn restore_state(&mut self, saved: &OptState) -> Result<()> {
        match &mut self.opt {
            Optimizer::Adam { state, .. } => {
                state.clear();
                for (id, t, step) in &saved.0 {
                    state.insert(*id, (t[0].deep_clone()?, t[1].deep_clone()?, *step));
                }
            }
            Optimizer::Sgd { state, .. } => {
                state.clear();
                for (id, t, _) in &saved.0 {
                    state.insert(*id, t[0].deep_clone()?);
                }
            }
        }
        Ok(())
    }

    /// Multiply every learning rate by `factor`.
    pub fn scale_lr(&mut self, factor: f32) {
        self.lr *= factor;
        self.coef_lr = self.coef_lr.map(|lr| lr * factor);
    }

    fn lr_of(&self, p: &Param) -> f32 {
        match (p.kind, self.coef_lr) {
            (ParamKind::ActCoef, Some(lr)) => lr,
            _ => self.lr,
        }
    }

    /// Update every non-frozen parameter that has a gradient, its gradient clipped.
    pub fn step(&mut self, params: &[&Param], grads: &Grads) -> Result<()> {
        // clipping by norm: one factor over every gradient the step has
        let scale = match self.clip {
            Clip::Norm(v) => {
                let gs: Vec<&Tensor> = params.iter().filter_map(|p| grads.get(&p.id)).collect();
                if gs.is_empty() { None } else { Some(kernels::norm_scale(&gs, v)?) }
            }
            Clip::None | Clip::Value(_) => None,
        };
        let clip = match (self.clip, &scale) {
            (Clip::Value(v), _) => GradClip::Value(v),
            (Clip::Norm(_), Some(s)) => GradClip::Scale(s),
            _ => GradClip::None,
        };
        for p in params.iter().filter(|p| !p.frozen) {
            let Some(g) = grads.get(&p.id) else { continue };
            let lr = self.lr_of(p);
            match &mut self.opt {
                Optimizer::Adam { cfg, state } => {
                    let gpu = p.value.gpu();
                    if let std::collections::hash_map::Entry::Vacant(e) = state.entry(p.id) {
                        let zeros = || elementwise::full(gpu, p.value.shape(), 0.0);
                        e.insert((zeros()?, zeros()?, 0));
                    }
                    let Some((m, v, step)) = state.get_mut(&p.id) else { continue };
                    *step += 1;
                    kernels::adam(&p.value, g, m, v, &AdamCfg { lr, ..*cfg }, *step, clip)?;
                }
                Optimizer::Sgd { momentum, weight_decay, state, .. } => {
                    if let std::collections::hash_map::Entry::Vacant(e) = state.entry(p.id) {
                        e.insert(elementwise::full(p.value.gpu(), p.value.shape(), 0.0)?);
                    }
                    kernels::sgd(&p.value, g, &state[&p.id], lr, *momentum, *weight_decay, clip)?;
                }
            }
        }
        Ok(())
    }
}
