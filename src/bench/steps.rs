//! Training-step benchmark (`heft bench --steps`): the median wall time of one training step
//! (forward, loss, backward, Adam, the loss read back) of heft's models on random data, and with
//! `--compare` the same step in PyTorch (`benches/peers/torch_step.py`, heft's PyTorch twins of
//! the models) on the same machine, as a ratio.

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
}

impl StepCase {
    pub fn name(&self) -> String {
        let role = if self.student { "student+KD" } else { "teacher" };
        let hidden = if self.arch == Arch::Alexnet { format!(" hidden {}", self.hidden) } else { String::new() };
        format!("{:?} x{} {}px{hidden} b{} {role}", self.arch, self.width, self.input, self.batch)
    }

    pub fn config(&self) -> ModelConfig {
        ModelConfig { width: self.width, hidden: self.hidden, ..ModelConfig::new(self.arch, vec!["a".into(), "b".into()], 1, self.input) }
    }

    pub fn student_config(&self) -> Option<StudentConfig> {
        self.student.then(StudentConfig::default)
    }
}

/// The models of the speed comparison: AlexNet-FHE at 64 and 112 px (widths 0.5 and 1.0) and
/// SqueezeNet 1.1 at 112 px, each as teacher and as student with distillation. `quick` keeps
/// the small AlexNet pair (a CPU driver takes minutes for the rest).
pub fn cases(quick: bool) -> Vec<StepCase> {
    let models: &[(Arch, usize, f32, usize, usize)] = if quick {
        &[(Arch::Alexnet, 64, 0.5, 512, 32)]
    } else {
        &[
            (Arch::Alexnet, 64, 0.5, 512, 32),
            (Arch::Alexnet, 64, 1.0, 4096, 32),
            (Arch::Alexnet, 112, 0.5, 512, 16),
            (Arch::Alexnet, 112, 1.0, 4096, 16),
            (Arch::Squeezenet11, 112, 1.0, 512, 16), // hidden: unused by SqueezeNet
        ]
    };
    models
        .iter()
        .flat_map(|&(arch, input, width, hidden, batch)| [false, true].map(|student| StepCase { arch, input, width, hidden, student, batch }))
        .collect()
}

/// Median milliseconds of one training step of `case` in heft (after one warm-up step).
pub fn heft_ms(gpu: &Gpu, case: &StepCase, reps: usize) -> Result<f64> {
    let mut step = RandomStep::new(gpu, case.config(), case.student_config(), case.batch, 1)?;
    let mut i = 0;
    time(gpu, reps, || {
        i += 1;
        step.run(i)
    })
}

/// The PyTorch peer script shipped with heft's sources.
pub fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/torch_step.py")
}

/// Median milliseconds of the same steps in PyTorch (`python` must have torch), and the device
/// string the script reports.
pub fn torch_ms(python: &str, cases: &[StepCase], reps: usize, threads: usize) -> Result<Vec<(f64, String)>> {
    let script = peer_script();
    if !script.exists() {
        return Err(Error::Invalid(format!("{} is missing: --compare runs from a heft source checkout", script.display())));
    }
    let rows: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            // the names of --model and of the checkpoints' JSON: alexnet, squeezenet1_1, resnet20
            serde_json::json!({ "arch": c.arch, "input": c.input, "width": c.width, "hidden": c.hidden, "student": c.student, "batch": c.batch })
        })
        .collect();
    let out = Command::new(python)
        .arg(&script)
        .args(["--json", &serde_json::Value::from(rows).to_string(), "--reps", &reps.to_string(), "--threads", &threads.to_string()])
        .output()
        .map_err(|e| Error::Invalid(format!("could not run {python}: {e}; pass --python with an interpreter that has torch")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(Error::Invalid(format!("{} failed: {last} (pip install torch, or pass --python)", script.display())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Vec<(f64, String)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["ms"].as_f64()?, v["device"].as_str()?.to_string())))
        .collect();
    if parsed.len() != cases.len() {
        return Err(Error::Invalid(format!("{} printed {} results for {} steps", script.display(), parsed.len(), cases.len())));
    }
    Ok(parsed)
}
