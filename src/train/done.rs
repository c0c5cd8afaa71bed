//! Finished runs and starting over. A run that has written its test results leaves
//! `<phase>_done.json` last: its fingerprint, a digest of its best checkpoint and its result
//! (floats as bits, summaries as confusion counts). A later run of the same phase and settings
//! into the same folder is skipped and returns that result, with the checkpoint loaded into its
//! model; one with other settings is refused. `RunFiles::start_over` (`--fresh`) forgets both
//! the marker and the epoch state.

use super::eval::{ActRange, Eval};
use super::files::{remove, RunFiles};
use super::run::RunResult;
use super::state;
use crate::error::{Error, Result};
use crate::fsx;
use crate::nn::checkpoint::{self, LoadMode};
use crate::nn::model::{Model, ModelConfig};
use crate::report::metrics::Confusion;
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Done {
    format: u32,
    fingerprint: String,
    /// FNV-1a of the best checkpoint's weights and config files as the run left them.
    checkpoint: String,
    best_epoch: usize,
    /// Confusion counts of the best epoch on validation and of the test split.
    best_val: Vec<Vec<u64>>,
    test: Vec<Vec<u64>>,
    test_loss: u64,
    /// (activation, min bits, max bits) on the test split.
    act_ranges: Vec<(String, u32, u32)>,
    seconds: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |err| Error::Io { path: path.display().to_string(), err }
}

fn checkpoint_digest(ckpt: &Path) -> Result<String> {
    let mut h = state::FNV_START;
    for p in [ckpt.to_path_buf(), checkpoint::config_path(ckpt)] {
        h = state::fnv(h, &std::fs::read(&p).map_err(io(&p))?);
    }
    Ok(format!("{h:016x}"))
}

/// Mark the run of `files` finished with `result`, then remove its epoch state.
pub(super) fn write(files: &RunFiles, fingerprint: &str, result: &RunResult) -> Result<()> {
    let done = Done {
        format: FORMAT,
        fingerprint: fingerprint.into(),
        checkpoint: checkpoint_digest(&result.checkpoint)?,
        best_epoch: result.best_epoch,
        best_val: result.best_val.confusion.clone(),
        test: result.test.summary.confusion.clone(),
        test_loss: result.test.loss.to_bits(),
        act_ranges: result.test.ranges.iter().map(|r| (r.name.clone(), r.min.to_bits(), r.max.to_bits())).collect(),
        seconds: result.seconds.to_bits(),
    };
    let json = serde_json::to_string_pretty(&done).map_err(|e| Error::Invalid(e.to_string()))?;
    fsx::write(&files.done(), json.as_bytes())?;
    remove(&files.state())
}

/// The result of the finished run of `files`, with its best checkpoint loaded into
/// `model` (as after training); None when there is none. A finished run of other settings,
/// or whose checkpoint has changed since, is an error.
pub(super) fn read(files: &RunFiles, fingerprint: &str, model: &mut Model) -> Result<Option<RunResult>> {
    let phase = files.phase;
    let Some(done) = marker(files)? else { return Ok(None) };
    if done.fingerprint != fingerprint {
        return Err(Error::Invalid(format!(
            "{} holds a finished {phase} run with other settings (they differ in {}); pass --fresh to train again over it, or choose another --out",
            files.dir.display(),
            super::fingerprint::differences(&done.fingerprint, fingerprint)
        )));
    }
    let ckpt = files.checkpoint();
    if checkpoint_digest(&ckpt)? != done.checkpoint {
        return Err(Error::Invalid(format!("{} has changed since the {phase} run finished; pass --fresh to train it again", ckpt.display())));
    }
    checkpoint::load_state(model, &ckpt, LoadMode::Strict)?;
    model.finish_transition();
    let summary = |counts: Vec<Vec<u64>>| Confusion { classes: model.config.class_names.clone(), counts }.summary();
    let ranges = done.act_ranges.into_iter().map(|(name, min, max)| ActRange { name, min: f32::from_bits(min), max: f32::from_bits(max) }).collect();
    Ok(Some(RunResult {
        best_epoch: done.best_epoch,
        best_val: summary(done.best_val),
        // the done marker keeps no per-image peaks (nothing reads a finished run's)
        test: Eval { summary: summary(done.test), loss: f64::from_bits(done.test_loss), ranges, peaks: Vec::new() },
        checkpoint: ckpt,
        seconds: f64::from_bits(done.seconds),
    }))
}

/// The done marker of `files`; None when the run has not finished.
fn marker(files: &RunFiles) -> Result<Option<Done>> {
    let p = files.done();
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&p)(e)),
    };
    let done: Done = serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: not a heft done marker ({e}); pass --fresh to train the run again", p.display())))?;
    if done.format != FORMAT {
        return Err(Error::Invalid(format!("{}: format {} of another heft version; pass --fresh to train the run again", p.display(), done.format)));
    }
    Ok(Some(done))
}

/// The config of the network the finished run of `files` trained, as its done marker's
/// fingerprint records it (None when it has not finished): the architecture of a run whose
/// checkpoint is gone.
pub fn trained_config(files: &RunFiles) -> Result<Option<ModelConfig>> {
    let Some(done) = marker(files)? else { return Ok(None) };
    let bad = |e: serde_json::Error| Error::Invalid(format!("{}: the fingerprint has no model config ({e})", files.done().display()));
    let fingerprint: serde_json::Value = serde_json::from_str(&done.fingerprint).map_err(bad)?;
    serde_json::from_value(fingerprint["model"].clone()).map(Some).map_err(bad)
}
