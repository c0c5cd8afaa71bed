//! Optimisers over tape gradients: Adam/AdamW and SGD with momentum, with per-kind learning
//! rates (activation coefficients get their own, as in the paper's recipe) and optional
//! gradient clipping by value or by global norm, which the update applies as it reads each
//! gradient (no pass of its own). State lives on the GPU; nothing is read back. A trainer that
//! `adopt`ed its model updates the parameters in runs over its arenas (`packed`).

mod packed;

use crate::error::{Error, Result};
use crate::ops::optim::{self as kernels, AdamCfg, GradClip};
use crate::nn::model::Model;
use crate::ops::elementwise;
use crate::tape::{Grads, Param, ParamId, ParamKind};
use packed::{Packed, Update};
use crate::tensor::Tensor;
use std::collections::hash_map::Entry;
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
    /// The arenas of the model it adopted.
    packed: Option<Packed>,
}

impl Trainer {
    pub fn adam(cfg: AdamCfg) -> Trainer {
        Trainer { lr: cfg.lr, opt: Optimizer::Adam { cfg, state: HashMap::new() }, coef_lr: None, clip: Clip::None, packed: None }
    }

    pub fn sgd(lr: f32, momentum: f32, weight_decay: f32) -> Trainer {
        Trainer { lr, opt: Optimizer::Sgd { momentum, weight_decay, state: HashMap::new() }, coef_lr: None, clip: Clip::None, packed: None }
    }

    /// Pack `model`'s parameters into this trainer's arenas (`optim::packed`): its updates then
    /// take one dispatch per run of parameters instead of one per parameter. State the trainer
    /// already holds (a resumed run) moves into the arenas. Once per trainer.
    pub fn adopt(&mut self, model: &mut Model) -> Result<()> {
        if self.packed.is_some() {
            return Err(Error::Invalid("this optimiser already packed a model's parameters".into()));
        }
        let held = self.save_state()?;
        let packed = Packed::new(model, self.tensors_per_param())?;
        self.packed = Some(packed);
        self.restore_state(&held)
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

    /// Back to `saved` (state created since is dropped; `saved` stays usable). A packed
    /// parameter's state is copied into its arena, and zeroed there when `saved` has none.
    pub fn restore_state(&mut self, saved: &OptState) -> Result<()> {
        let copies = |id: ParamId, t: &[Tensor]| -> Result<Vec<Tensor>> {
            let Some(views) = self.packed.as_ref().map(|p| p.state_of(id, t[0].shape())).transpose()?.flatten() else {
                return t.iter().map(Tensor::deep_clone).collect();
            };
            for (v, t) in views.iter().zip(t) {
                v.copy_from(t)?;
            }
            Ok(views)
        };
        let mut restored: Vec<(ParamId, Vec<Tensor>, u64)> = Vec::new();
        for (id, t, step) in &saved.0 {
            restored.push((*id, copies(*id, t)?, *step));
        }
        // packed state that `saved` does not have goes back to zero (`step`'s invariant)
        let dropped: Vec<ParamId> = self.entries().into_iter().map(|e| e.0).filter(|id| !restored.iter().any(|r| r.0 == *id)).collect();
        for id in dropped {
            for t in self.packed.as_ref().map(|p| p.state_of(id, &[])).transpose()?.flatten().unwrap_or_default() {
                t.gpu().clear(t.bind());
            }
        }
        match &mut self.opt {
            Optimizer::Adam { state, .. } => {
                state.clear();
                for (id, mut t, step) in restored {
                    let v = t.pop().ok_or_else(|| Error::Invalid("Adam state needs two tensors".into()))?;
                    let m = t.pop().ok_or_else(|| Error::Invalid("Adam state needs two tensors".into()))?;
                    state.insert(id, (m, v, step));
                }
            }
            Optimizer::Sgd { state, .. } => {
                state.clear();
                for (id, mut t, _) in restored {
                    state.insert(id, t.pop().ok_or_else(|| Error::Invalid("SGD state needs one tensor".into()))?);
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

    /// Update every non-frozen parameter that has a gradient, its gradient clipped: packed
    /// parameters in runs (`Packed::runs`), the others one by one.
    pub fn step(&mut self, params: &[&Param], grads: &Grads) -> Result<()> {
        let mut updates = Vec::new();
        let mut stepping = HashMap::new();
        for p in params.iter().filter(|p| !p.frozen) {
            let Some(g) = grads.get(&p.id) else { continue };
            let lr = self.lr_of(p);
            let views = match &self.packed {
                Some(packed) => {
                    packed.check(p)?;
                    packed.state_of(p.id, p.value.shape())?
                }
                None => None,
            };
            let in_arena = views.is_some();
            let (state, step) = self.advance(p, views)?;
            match (&p.slot, in_arena) {
                (Some(slot), true) => {
                    // the tape leaves gradients in their slots; one made elsewhere is copied in
                    crate::tape::into_slot(g, slot.clone())?;
                    stepping.insert(p.id, (lr, step));
                }
                _ => updates.push(Update { value: p.value.clone(), grad: g.clone(), state, lr, step }),
            }
        }
        if let Some(packed) = &self.packed {
            updates.extend(packed.runs(&stepping)?);
        }
        // clipping by norm: one factor over every gradient the step has (an arena's gaps are 0)
        let scale = match self.clip {
            Clip::Norm(v) if !updates.is_empty() => Some(kernels::norm_scale(&updates.iter().map(|u| &u.grad).collect::<Vec<_>>(), v)?),
            _ => None,
        };
        let clip = match (self.clip, &scale) {
            (Clip::Value(v), _) => GradClip::Value(v),
            (Clip::Norm(_), Some(s)) => GradClip::Scale(s),
            _ => GradClip::None,
        };
        for u in &updates {
            match &self.opt {
                Optimizer::Adam { cfg, .. } => kernels::adam(&u.value, &u.grad, &u.state[0], &u.state[1], &AdamCfg { lr: u.lr, ..*cfg }, u.step, clip)?,
                Optimizer::Sgd { momentum, weight_decay, .. } => kernels::sgd(&u.value, &u.grad, &u.state[0], u.lr, *momentum, *weight_decay, clip)?,
            }
        }
        Ok(())
    }

    /// `p`'s state tensors and its step count after this step. A parameter's first step creates
    /// its state, zero: `views` (its arena's, zero until it has state) or new tensors.
    fn advance(&mut self, p: &Param, views: Option<Vec<Tensor>>) -> Result<(Vec<Tensor>, u64)> {
        let per = self.tensors_per_param();
        let fresh = || -> Result<Vec<Tensor>> {
            match views.clone() {
                Some(v) => Ok(v),
                None => (0..per).map(|_| elementwise::full(p.value.gpu(), p.value.shape(), 0.0)).collect(),
            }
        };
        match &mut self.opt {
            Optimizer::Adam { state, .. } => {
                let (m, v, step) = match state.entry(p.id) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        let [m, v]: [Tensor; 2] = fresh()?.try_into().map_err(|_| Error::Invalid("Adam state needs two tensors".into()))?;
                        e.insert((m, v, 0))
                    }
                };
                *step += 1;
                Ok((vec![m.clone(), v.clone()], *step))
            }
            Optimizer::Sgd { state, .. } => {
                let buf = match state.entry(p.id) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(fresh()?.remove(0)),
                };
                Ok((vec![buf.clone()], 0))
            }
        }
    }
}
