//! Training-step benchmark (`heft bench --steps`): the median wall time of one training step
//! (forward, loss, backward, Adam, the loss read back) of heft's models on random data, and with
//! `--compare` the same step in PyTorch (`benches/peers/torch_step.py`, heft's PyTorch twins of
//! the models) on the same machine, as a ratio; with `--burn`, in Burn too (`benches/peers/burn`,
//! a separate crate with Burn twins of the models on its wgpu backend).

use super::time;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::model::{Arch, ModelConfig, StudentConfig};
use crate::profile::RandomStep;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One benchmarked step: a model, its role and the batch.
#[derive(Clone, Debug, Serialize)]
pub struct StepCase {
    pub arch: Arch,
    pub input: usize,
    pub width: f32,
    pub hidden: usize,
    pub student: bool,
    pub batch: usize,
    /// The teacher has batch norms where its student gets them (`--batchnorm`).
    pub batchnorm: bool,
}

impl StepCase {
    pub fn name(&self) -> String {
        let role = if self.student { "student+KD" } else { "teacher" };
        let hidden = if self.arch == Arch::Alexnet { format!(" hidden {}", self.hidden) } else { String::new() };
        let bn = if self.batchnorm { " BN" } else { "" };
        format!("{:?}{bn} x{} {}px{hidden} b{} {role}", self.arch, self.width, self.input, self.batch)
    }

    pub fn config(&self) -> ModelConfig {
        ModelConfig { width: self.width, hidden: self.hidden, batchnorm: self.batchnorm, ..ModelConfig::new(self.arch, vec!["a".into(), "b".into()], 1, self.input) }
    }

    pub fn student_config(&self) -> Option<StudentConfig> {
        self.student.then(StudentConfig::default)
    }
}

/// Which steps `cases` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    /// AlexNet-FHE at 64 and 112 px (widths 0.5 and 1.0), a tiny AlexNet (x0.125, hidden 32,
    /// 64 px, batch 2: a step made of dispatch overhead), SqueezeNet 1.1 at 112 px, and
    /// SqueezeNet 1.1 at 64 px with a batch-norm teacher (the one that trains from scratch).
    All,
    /// The small AlexNet pair only (a CPU driver takes minutes for the rest).
    Quick,
    /// The real-GPU pair: AlexNet-FHE at 224 px, width 1, batch 128.
    Large,
}

/// The models of the speed comparison, each as teacher and as student with distillation, all
/// on 1-channel input (the CT and X-ray slices heft is for).
pub fn cases(set: Set) -> Vec<StepCase> {
    // (arch, input, width, hidden, batch, batchnorm); hidden is unused by SqueezeNet
    let models: &[(Arch, usize, f32, usize, usize, bool)] = match set {
        Set::Quick => &[(Arch::Alexnet, 64, 0.5, 512, 32, false)],
        Set::Large => &[(Arch::Alexnet, 224, 1.0, 4096, 128, false)],
        Set::All => &[
            (Arch::Alexnet, 64, 0.125, 32, 2, false),
            (Arch::Alexnet, 64, 0.5, 512, 32, false),
            (Arch::Alexnet, 64, 1.0, 4096, 32, false),
            (Arch::Alexnet, 112, 0.5, 512, 16, false),
            (Arch::Alexnet, 112, 1.0, 4096, 16, false),
            (Arch::Squeezenet11, 64, 1.0, 512, 32, true),
            (Arch::Squeezenet11, 112, 1.0, 512, 16, false),
        ],
    };
    models
        .iter()
        .flat_map(|&(arch, input, width, hidden, batch, batchnorm)| {
            [false, true].map(|student| StepCase { arch, input, width, hidden, student, batch, batchnorm })
        })
        .collect()
}

/// Median milliseconds of one training step of `case` in heft (after one warm-up step), and
/// the kernel dispatches of one more step (the first step also creates optimiser state).
pub fn heft_ms(gpu: &Gpu, case: &StepCase, reps: usize) -> Result<(f64, u64)> {
    let mut step = RandomStep::new(gpu, case.config(), case.student_config(), case.batch, 1)?;
    let mut i = 0;
    let ms = time(gpu, reps, || {
        i += 1;
        step.run(i)
    })?;
    let before = gpu.dispatches();
    step.run(i + 1)?;
    Ok((ms, gpu.dispatches() - before))
}

/// The PyTorch peer script shipped with heft's sources.
pub fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/torch_step.py")
}

/// A peer's result for one step: median milliseconds and the device string it reports.
pub type PeerMs = (f64, String);

/// Median milliseconds of the same steps in PyTorch (`python` must have torch), and the device
/// string the script reports.
pub fn torch_ms(python: &str, cases: &[StepCase], reps: usize, threads: usize) -> Result<Vec<PeerMs>> {
    let script = peer_script();
    if !script.exists() {
        return Err(Error::Invalid(format!("{} is missing: --compare runs from a heft source checkout", script.display())));
    }
    let mut cmd = Command::new(python);
    cmd.arg(&script).args(["--threads", &threads.to_string()]);
    let what = format!("{python} {}", script.display());
    run_peer(cmd, &what, "pass --python with an interpreter that has torch (pip install torch)", cases, reps)
}

/// Median milliseconds of the same steps in Burn: `burn_step` is the binary of the peer crate
/// `benches/peers/burn` (outside heft's build: `cargo build --release` there).
pub fn burn_ms(burn_step: &Path, cases: &[StepCase], reps: usize) -> Result<Vec<PeerMs>> {
    if let Some(c) = cases.iter().find(|c| c.batchnorm) {
        return Err(Error::Invalid(format!("the Burn peer has no twin of a batch-norm teacher ({}): use --burn with --quick", c.name())));
    }
    let what = burn_step.display().to_string();
    run_peer(Command::new(burn_step), &what, BURN_HINT, cases, reps)
}

/// How to get a `burn-step` binary, for errors.
pub const BURN_HINT: &str = "build it with `cargo build --release` in benches/peers/burn and pass its target/release/burn-step";

/// Runs a peer (`cmd` plus `--json <rows> --reps N`) and reads the JSON line it prints per step,
/// `{"row", "ms", "device"}`. `what` names the peer in errors and `hint` says how to fix it.
fn run_peer(mut cmd: Command, what: &str, hint: &str, cases: &[StepCase], reps: usize) -> Result<Vec<PeerMs>> {
    let rows: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            // the names of --model and of the checkpoints' JSON: alexnet, squeezenet1_1, resnet20
            serde_json::json!({ "arch": c.arch, "input": c.input, "width": c.width, "hidden": c.hidden, "student": c.student, "batch": c.batch, "batchnorm": c.batchnorm })
        })
        .collect();
    let out = cmd
        .args(["--json", &serde_json::Value::from(rows).to_string(), "--reps", &reps.to_string()])
        .output()
        .map_err(|e| Error::Invalid(format!("could not run {what}: {e}; {hint}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(Error::Invalid(format!("{what} failed ({}): {last} ({hint})", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Vec<PeerMs> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["ms"].as_f64()?, v["device"].as_str()?.to_string())))
        .collect();
    if parsed.len() != cases.len() {
        return Err(Error::Invalid(format!("{what} printed {} results for {} steps", parsed.len(), cases.len())));
    }
    Ok(parsed)
}
