//! The results of a grid: each run's test metrics per seed, their mean ± standard deviation
//! over seeds, and a student's gap to its teacher, written as `results.md` and `results.json`.

use super::spec::{Experiment, Run, RunKind, StudentStart};
use crate::error::{Error, Result};
use crate::nn::layers::ActKind;
use crate::nn::convert::Schedule;
use crate::report::metrics::Summary;
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

/// Test metrics of one (run, seed); precision and recall are macro averages over classes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub precision: f64,
    pub recall: f64,
    pub best_epoch: usize,
}

impl SeedResult {
    pub fn of(seed: u64, s: &Summary, best_epoch: usize) -> SeedResult {
        let mean = |f: &dyn Fn(&crate::report::metrics::ClassStats) -> f64| {
            if s.per_class.is_empty() { 0.0 } else { s.per_class.iter().map(f).sum::<f64>() / s.per_class.len() as f64 }
        };
        SeedResult { seed, accuracy: s.accuracy, macro_f1: s.macro_f1, precision: mean(&|c| c.precision), recall: mean(&|c| c.recall), best_epoch }
    }
}

/// Mean and sample standard deviation (n − 1 in the denominator; None with one value).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
}

/// The `Stat` of `xs` (None when empty).
pub fn stat(xs: &[f64]) -> Option<Stat> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Some(Stat { mean, std })
}

/// One row of the table: a run over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub index: usize,
    pub name: String,
    pub teacher: Option<String>,
    pub setup: String,
    pub seeds: Vec<SeedResult>,
    /// Seeds of the experiment without a finished result.
    pub missing_seeds: Vec<u64>,
    /// Why seeds failed, as their last attempt recorded it.
    pub failures: Vec<(u64, String)>,
    pub accuracy: Option<Stat>,
    pub macro_f1: Option<Stat>,
    pub precision: Option<Stat>,
    pub recall: Option<Stat>,
    /// Student minus teacher, paired by seed (seeds both finished).
    pub gap_accuracy: Option<Stat>,
    pub gap_macro_f1: Option<Stat>,
    /// A student's cost under CKKS (`heft he-report` of a finished seed's checkpoint), filled
    /// in by the caller that can build models; None for teachers and unfinished students.
    pub he: Option<HeCost>,
}

/// Multiplicative depth and the ring dimension `heft he-report` recommends for it (values up
/// to 2^10 assumed, as he-report does without data).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HeCost {
    pub depth: usize,
    pub ring_dim: usize,
}

/// What a run trains, in a few words.
pub fn setup(run: &Run) -> String {
    let model = |m: &super::ModelSpec| format!("{:?} ×{}", m.arch, m.width).to_lowercase();
    match &run.kind {
        RunKind::Teacher { model: m, pretrained } => format!("ReLU teacher, {}{}", model(m), if pretrained.is_some() { ", pretrained" } else { "" }),
        RunKind::Student { from, config, distil } => {
            let act = match config.act {
                ActKind::Poly => format!("trainable poly from {:?}", config.init),
                ActKind::Square => "fixed x²".into(),
                ActKind::ApproxRelu => "fixed approx-ReLU".into(),
                ActKind::Relu => "ReLU".into(),
                ActKind::Affine => "trainable affine (linearised)".into(),
            };
            let schedule = match run.recipe.schedule {
                Schedule::AllAtOnce => "all at once".into(),
                Schedule::LayerByLayer { start, every } => format!("layer by layer (from epoch {start}, every {every})"),
                Schedule::Smooth { start, every } => format!("smooth (from epoch {start}, every {every})"),
            };
            let weights = match from {
                StudentStart::Scratch { model: m, .. } => format!("from scratch, {}", model(m)),
                StudentStart::Teacher(_) => "teacher weights".into(),
            };
            let range = if run.recipe.range_weight > 0.0 { format!(", range loss {} (R {})", run.recipe.range_weight, run.recipe.range) } else { String::new() };
            let bound = run.recipe.max_range.map_or(String::new(), |m| format!(", guard bound ±{m:e}"));
            format!("{weights}, {act}, {schedule}, {}, {}{range}{bound}", if config.batchnorm { "BN" } else { "no BN" }, if *distil { "KD" } else { "no KD" })
        }
    }
}

/// The rows of `exp`, from `results[i]`: the finished seeds of `exp.runs[i]`; `failures[i]`:
/// why its failed seeds failed.
pub fn rows(exp: &Experiment, results: &[Vec<SeedResult>], failures: &[Vec<(u64, String)>]) -> Vec<Row> {
    let by_name = |name: &str| exp.runs.iter().position(|r| r.name == name).map(|i| &results[i]);
    (exp.runs.iter().zip(results).zip(failures))
        .map(|((run, got), failed)| {
            let col = |f: fn(&SeedResult) -> f64| stat(&got.iter().map(f).collect::<Vec<_>>());
            let teacher = run.teacher().and_then(by_name);
            let gap = |f: fn(&SeedResult) -> f64| {
                let t = teacher?;
                let pairs: Vec<f64> = got.iter().filter_map(|s| t.iter().find(|x| x.seed == s.seed).map(|x| f(s) - f(x))).collect();
                stat(&pairs)
            };
            Row {
                index: run.index,
                name: run.name.clone(),
                teacher: run.teacher().map(String::from),
                setup: setup(run),
                missing_seeds: exp.seeds.iter().copied().filter(|s| !got.iter().any(|r| r.seed == *s)).collect(),
                seeds: got.clone(),
                failures: failed.clone(),
                accuracy: col(|s| s.accuracy),
                macro_f1: col(|s| s.macro_f1),
                precision: col(|s| s.precision),
                recall: col(|s| s.recall),
                gap_accuracy: gap(|s| s.accuracy),
                gap_macro_f1: gap(|s| s.macro_f1),
                he: None,
            }
        })
        .collect()
}

/// `0.8500 ± 0.0212`, `0.8500` with one seed, `—` with none; `signed` puts a sign on the mean.
pub fn cell(s: Option<Stat>, signed: bool) -> String {
    match s {
        None => "—".into(),
        Some(Stat { mean, std }) => {
            let m = if signed { format!("{mean:+.4}") } else { format!("{mean:.4}") };
            std.map(|d| format!("{m} ± {d:.4}")).unwrap_or(m)
        }
    }
}

pub fn markdown(exp: &Experiment, rows: &[Row]) -> String {
    let mut md = format!("# Results of {}\n\n", exp.file.display());
    md += "Test-set metrics of each run's best checkpoint (by validation macro-F1): mean ± sample standard deviation \
           (n − 1) over the seeds that finished. Precision and recall are macro averages over the classes. \
           Δ is the student minus its teacher, paired by seed. HE: a student's multiplicative depth and the CKKS ring \
           dimension N that `heft he-report` recommends for it (values up to 2^10 assumed).\n\n";
    md += "| # | run | setup | seeds | accuracy | macro-F1 | precision | recall | Δ accuracy | Δ macro-F1 | HE depth, N |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in rows {
        let seeds = format!("{}/{}", r.seeds.len(), exp.seeds.len());
        let teacher = r.teacher.as_deref().map(|t| format!(" (vs {t})")).unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {}{teacher} | {} | {seeds} | {} | {} | {} | {} | {} | {} | {} |",
            r.index,
            r.name,
            r.setup,
            cell(r.accuracy, false),
            cell(r.macro_f1, false),
            cell(r.precision, false),
            cell(r.recall, false),
            cell(r.gap_accuracy, true),
            cell(r.gap_macro_f1, true),
            r.he.map_or("—".into(), |h| format!("{}, {}", h.depth, h.ring_dim))
        );
    }
    let missing: Vec<String> = rows.iter().filter(|r| !r.missing_seeds.is_empty()).map(|r| format!("{} (seeds {:?})", r.name, r.missing_seeds)).collect();
    if !missing.is_empty() {
        let _ = writeln!(md, "\nNot finished: {}.", missing.join(", "));
    }
    for r in rows {
        for (seed, why) in &r.failures {
            let _ = writeln!(md, "\n- {} seed {seed} failed: {why}", r.name);
        }
    }
    md
}

/// Write `results.md` and `results.json` into `out` (atomically, each whole).
pub fn write(out: &Path, exp: &Experiment, rows: &[Row]) -> Result<()> {
    let json = serde_json::json!({ "experiment": exp.file.display().to_string(), "seeds": exp.seeds, "runs": rows });
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Invalid(format!("results.json: {e}")))?;
    crate::fsx::write(&out.join("results.json"), format!("{text}\n").as_bytes())?;
    crate::fsx::write(&out.join("results.md"), markdown(exp, rows).as_bytes())
}
