//! The epoch state of a training run, `<phase>_state.safetensors` in its folder: written after
//! every finished epoch, it holds everything the rest of the run depends on, so that a killed
//! run goes on after its last finished epoch and ends bit-identical to an uninterrupted one.
//!
//! Tensors: the model's state dict (`model/<name>`: parameters with the activation
//! coefficients, batch-norm running statistics), the optimiser's per-parameter state
//! (`opt/<parameter>/<k>`: Adam's moments) and, while the divergence guard's confirmed snapshot
//! differs from the current state, that snapshot (`guard/model/...`, `guard/opt/...`).
//! Metadata `heft_state` (JSON, `Meta`): the run's fingerprint, epochs done, learning rates,
//! optimiser step counts, the best epoch, the plateau scheduler, the guard's rollbacks and
//! snapshot positions, the metrics log's lines and the plots' series; floats as their bits, since
//! a decimal round trip may change the last one. Metadata `checksum`: FNV-1a over that JSON and
//! every tensor's name and bytes, in name order; a file that fails it is refused.
//!
//! The file is one atomic write (`safetensors_file::write`): a kill at any moment leaves the previous state
//! or the new one, whole. Randomness needs no state: the loader's order and augmentation derive
//! from (seed, epoch, sample), dropout from (seed, epoch, step), the ReLU→polynomial ratios from
//! the schedule and the epoch.

use super::files::RunFiles;
use super::progress::{Best, Plateau, Progress};
use super::guard::{Guard, GuardCfg, Snapshot};
use super::runlog::{History, RunLog};
use crate::error::{Error, Result};
use crate::nn::model::Model;
use crate::optim::{OptState, Trainer};
use crate::report::metrics::Confusion;
use crate::tape::ParamId;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Version of the file's layout; a state of another version is refused.
const FORMAT: u32 = 1;

/// FNV-1a, 64 bits: a digest that stays the same across Rust releases and machines.
pub(super) fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

pub(super) const FNV_START: u64 = 0xcbf29ce484222325;

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    fingerprint: String,
    epochs_done: usize,
    lr: u32,
    coef_lr: Option<u32>,
    best_f1: u64,
    best_loss: u64,
    best_epoch: usize,
    /// Validation confusion counts of the best epoch (its summary is computed from them).
    best_val: Option<Vec<Vec<u64>>>,
    plateau_best: u64,
    plateau_bad_epochs: usize,
    /// Seconds the run had trained when the state was written.
    seconds: u64,
    log: Vec<String>,
    history: [Vec<u64>; 4],
    rollbacks: usize,
    confirmed_at: (usize, usize),
    candidate_at: Option<(usize, usize)>,
    /// Optimiser step count per parameter name: of the current state, and of the guard's
    /// confirmed snapshot when it is stored.
    steps: BTreeMap<String, u64>,
    confirmed_steps: Option<BTreeMap<String, u64>>,
}

/// Named tensors read back from the GPU.
type Named = Vec<(String, Vec<usize>, Vec<f32>)>;

fn read(out: &mut Named, name: String, t: &Tensor) -> Result<()> {
    out.push((name, t.shape().to_vec(), t.to_f32()?));
    Ok(())
}

/// Read back optimiser entries under `prefix`; returns the step count per parameter name.
fn read_opt(out: &mut Named, prefix: &str, entries: Vec<(ParamId, Vec<&Tensor>, u64)>, names: &HashMap<ParamId, String>) -> Result<BTreeMap<String, u64>> {
    let mut steps = BTreeMap::new();
    for (id, tensors, step) in entries {
        let name = names.get(&id).ok_or_else(|| Error::Invalid(format!("the optimiser holds state for parameter {id}, which is not in the model")))?;
        for (k, t) in tensors.into_iter().enumerate() {
            read(out, format!("{prefix}/{name}/{k}"), t)?;
        }
        steps.insert(name.clone(), step);
    }
    Ok(steps)
}

fn checksum(meta: &str, tensors: &mut [(&str, &[u8])]) -> String {
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    let h = tensors.iter().fold(fnv(FNV_START, meta.as_bytes()), |h, (name, bytes)| fnv(fnv(h, name.as_bytes()), bytes));
    format!("{h:016x}")
}

fn to_bits(h: &History) -> [Vec<u64>; 4] {
    h.each_ref().map(|v| v.iter().map(|x| x.to_bits()).collect())
}

/// Write the state of a run that has finished `progress.epochs_done` epochs to `path`.
pub(super) fn save(path: &Path, fingerprint: &str, model: &Model, trainer: &Trainer, guard: &Guard, progress: &Progress, log: &RunLog) -> Result<()> {
    let names: HashMap<ParamId, String> = model.params().into_iter().map(|p| (p.id, p.name.clone())).collect();
    let mut tensors = Named::new();
    for (n, t) in model.state() {
        read(&mut tensors, format!("model/{n}"), t)?;
    }
    let steps = read_opt(&mut tensors, "opt", trainer.entries(), &names)?;
    let carry = guard.between_epochs();
    let confirmed_steps = match carry.confirmed {
        Some(s) => {
            for ((n, _), t) in model.state().into_iter().zip(&s.model) {
                read(&mut tensors, format!("guard/model/{n}"), t)?;
            }
            Some(read_opt(&mut tensors, "guard/opt", s.opt.entries(), &names)?)
        }
        None => None,
    };
    let (lines, history) = log.written();
    let (best, plateau) = (&progress.best, &progress.plateau);
    let meta = Meta {
        format: FORMAT,
        fingerprint: fingerprint.into(),
        epochs_done: progress.epochs_done,
        lr: trainer.lr.to_bits(),
        coef_lr: trainer.coef_lr.map(f32::to_bits),
        best_f1: best.f1.to_bits(),
        best_loss: best.loss.to_bits(),
        best_epoch: best.epoch,
        best_val: best.val.as_ref().map(|s| s.confusion.clone()),
        plateau_best: plateau.best.to_bits(),
        plateau_bad_epochs: plateau.bad_epochs,
        seconds: progress.seconds.to_bits(),
        log: lines.to_vec(),
        history: to_bits(history),
        rollbacks: carry.rollbacks,
        confirmed_at: carry.confirmed_at,
        candidate_at: carry.candidate_at,
        steps,
        confirmed_steps,
    };
    let json = serde_json::to_string(&meta).map_err(|e| Error::Invalid(e.to_string()))?;
    let bytes: Vec<(&str, &[u8])> = tensors.iter().map(|(n, _, v)| (n.as_str(), bytemuck::cast_slice(v))).collect();
    let sum = checksum(&json, &mut bytes.clone());
    let metadata = HashMap::from([("heft_state".to_string(), json), ("checksum".to_string(), sum)]);
    crate::safetensors_file::write(path, &tensors, Some(metadata))
}

/// A run restored from its epoch state: the model and the trainer hold the state's tensors
/// and learning rates.
pub(super) struct Resumed {
    pub progress: Progress,
    pub log: (Vec<String>, History),
    pub guard: Guard,
}

/// The tensors of a state file by name, each taken once.
struct Tensors<'a> {
    path: &'a Path,
    views: HashMap<String, TensorView<'a>>,
}

impl Tensors<'_> {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let v = self.views.remove(name).ok_or_else(|| unusable(self.path, &format!("tensor {name} is missing")))?;
        if v.dtype() != Dtype::F32 || v.shape() != shape {
            return Err(unusable(self.path, &format!("tensor {name} is {:?} {:?}, the model needs F32 {shape:?}", v.dtype(), v.shape())));
        }
        Ok(bytemuck::pod_collect_to_vec(v.data()))
    }

    /// An optimiser state of `per` tensors per parameter with the step counts `steps`.
    fn opt(&mut self, prefix: &str, steps: &BTreeMap<String, u64>, model: &Model, per: usize) -> Result<OptState> {
        let params: HashMap<String, (ParamId, &Tensor)> = model.params().into_iter().map(|p| (p.name.clone(), (p.id, &p.value))).collect();
        let mut entries = Vec::new();
        for (name, &step) in steps {
            let &(id, value) = params.get(name).ok_or_else(|| unusable(self.path, &format!("optimiser state for {name}, which the model lacks")))?;
            let tensors = (0..per).map(|k| Tensor::from_f32(value.gpu(), &self.take(&format!("{prefix}/{name}/{k}"), value.shape())?, value.shape())).collect::<Result<_>>()?;
            entries.push((id, tensors, step));
        }
        Ok(OptState::from_entries(entries))
    }
}

fn unusable(path: &Path, why: &str) -> Error {
    Error::Invalid(format!("{}: not a usable epoch state ({why}); pass --fresh to start the run over", path.display()))
}

/// Restore the state at `path` into `model` and `trainer`; None when there is no state. A
/// state of another configuration (another fingerprint) is an error saying what differs.
pub(super) fn load(path: &Path, fingerprint: &str, model: &Model, trainer: &mut Trainer, cfg: GuardCfg) -> Result<Option<Resumed>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::Io { path: path.display().to_string(), err }),
    };
    let bad = |why: &dyn std::fmt::Display| unusable(path, &why.to_string());
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(&e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(&e))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let (Some(json), Some(sum)) = (metadata.get("heft_state"), metadata.get("checksum")) else { return Err(bad(&"no heft_state metadata")) };
    let views: HashMap<String, TensorView<'_>> = st.tensors().into_iter().collect();
    let mut named: Vec<(&str, &[u8])> = views.iter().map(|(n, v)| (n.as_str(), v.data())).collect();
    if &checksum(json, &mut named) != sum {
        return Err(bad(&"its checksum does not match: the file is damaged"));
    }
    let meta: Meta = serde_json::from_str(json).map_err(|e| bad(&e))?;
    if meta.format != FORMAT {
        return Err(bad(&format!("format {} of another heft version; this one reads {FORMAT}", meta.format)));
    }
    if meta.fingerprint != fingerprint {
        return Err(Error::Invalid(format!(
            "{} belongs to a run with other settings (they differ in {}); run with the same settings to resume it, or pass --fresh to start over, or choose another --out",
            path.display(),
            super::fingerprint::differences(&meta.fingerprint, fingerprint)
        )));
    }
    let mut tensors = Tensors { path, views };
    for (n, t) in model.state() {
        t.write_f32(&tensors.take(&format!("model/{n}"), t.shape())?)?;
    }
    let per = trainer.tensors_per_param();
    trainer.restore_state(&tensors.opt("opt", &meta.steps, model, per)?)?;
    (trainer.lr, trainer.coef_lr) = (f32::from_bits(meta.lr), meta.coef_lr.map(f32::from_bits));
    let confirmed = match &meta.confirmed_steps {
        Some(steps) => {
            let model_copy = (model.state().into_iter())
                .map(|(n, t)| Tensor::from_f32(t.gpu(), &tensors.take(&format!("guard/model/{n}"), t.shape())?, t.shape()))
                .collect::<Result<_>>()?;
            Some(Snapshot { model: model_copy, opt: tensors.opt("guard/opt", steps, model, per)?, at: meta.confirmed_at })
        }
        None => None,
    };
    if let Some(name) = tensors.views.keys().min() {
        return Err(bad(&format!("tensor {name} is not part of this model's state")));
    }
    let guard = Guard::resume(model, trainer, cfg, meta.rollbacks, confirmed, meta.confirmed_at, meta.candidate_at)?;
    let summary = |counts: Vec<Vec<u64>>| Confusion { classes: model.config.class_names.clone(), counts }.summary();
    let best = Best { f1: f64::from_bits(meta.best_f1), loss: f64::from_bits(meta.best_loss), epoch: meta.best_epoch, val: meta.best_val.map(summary) };
    let plateau = Plateau { best: f64::from_bits(meta.plateau_best), bad_epochs: meta.plateau_bad_epochs };
    let progress = Progress { epochs_done: meta.epochs_done, best, plateau, seconds: f64::from_bits(meta.seconds) };
    let history = meta.history.map(|v| v.into_iter().map(f64::from_bits).collect());
    Ok(Some(Resumed { progress, log: (meta.log, history), guard }))
}

/// Remove the temporary files of state writes that a killed run left in its folder (`fsx`'s
/// `.<name>.heft-<pid>-<n>.tmp`, as large as a state); a folder holds one run of a phase at a
/// time.
pub(super) fn remove_leftovers(files: &RunFiles) -> Result<()> {
    let (out, state) = (&files.dir, files.state());
    let name = state.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.heft-");
    let entries = std::fs::read_dir(out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            std::fs::remove_file(e.path()).map_err(|err| Error::Io { path: e.path().display().to_string(), err })?;
        }
    }
    Ok(())
}
