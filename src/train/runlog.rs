//! What a training run reports: one JSON line per epoch in `<phase>_metrics.jsonl`, one console
//! line per epoch, a progress bar per epoch, and at the end the loss, accuracy and confusion
//! plots and a JSON line with the test results. It keeps the lines it wrote, so that a resumed
//! run's log ends as an uninterrupted run's would.

use super::eval::{ActRange, Eval};
use crate::nn::eval::NamedPeak;
use crate::error::Result;
use crate::report::log::MetricsLog;
use crate::report::metrics::Confusion;
use crate::report::plot;
use serde::Serialize;
use super::files::RunFiles;

/// One epoch's figures (a line of metrics.jsonl).
#[derive(Serialize)]
pub struct EpochRecord {
    pub phase: String,
    pub epoch: usize,
    pub lr: f32,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    /// ReLU→polynomial blend ratio of each activation (student).
    pub ratios: Vec<f32>,
    pub act_ranges: Vec<ActRange>,
    /// Student: how many validation images have an activation input beyond ±R (the range
    /// loss's bound), and the image with the largest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_images_beyond_range: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_worst_image: Option<NamedPeak>,
    pub images_per_s: f64,
    pub seconds: f64,
    pub skipped_images: usize,
    /// This epoch became the best checkpoint.
    pub best: bool,
    /// GPU bytes heft holds through its buffer pool at the end of the epoch (in use plus idle).
    pub gpu_bytes: u64,
    /// The most GPU bytes it held at any point since the GPU was opened.
    pub gpu_high_water_bytes: u64,
}

/// Per epoch: train loss, val loss, train accuracy, val accuracy (the plots' series).
pub type History = [Vec<f64>; 4];

pub struct RunLog {
    files: RunFiles,
    phase: String,
    epochs: usize,
    console: bool,
    jsonl: MetricsLog,
    /// Every line written to the log so far (a resumed run starts with its earlier lines).
    lines: Vec<String>,
    history: History,
}

impl RunLog {
    /// A new log, which replaces the run's metrics file with its first line; a resumed run
    /// passes its earlier lines and history, written again at once, byte for byte.
    pub fn create(files: &RunFiles, epochs: usize, console: bool, earlier: Option<(Vec<String>, History)>) -> Result<RunLog> {
        let jsonl = MetricsLog::create(&files.metrics())?;
        let (lines, history) = earlier.unwrap_or_default();
        let phase = files.phase.name().to_string();
        let mut log = RunLog { files: files.clone(), phase, epochs, console, jsonl, lines: Vec::new(), history };
        if !lines.is_empty() {
            log.jsonl.write_lines(&lines)?;
        }
        log.lines = lines;
        Ok(log)
    }

    /// The lines written so far and the plots' series (for the epoch state).
    pub fn written(&self) -> (&[String], &History) {
        (&self.lines, &self.history)
    }

    fn write(&mut self, v: &serde_json::Value) -> Result<()> {
        self.jsonl.write(v)?;
        self.lines.push(v.to_string());
        Ok(())
    }

    /// A progress bar over this epoch's `images`.
    pub fn bar(&self, epoch: usize, images: usize) -> indicatif::ProgressBar {
        progress(self.console, images, &format!("{} {}/{}", self.phase, epoch + 1, self.epochs))
    }

    pub fn epoch(&mut self, r: &EpochRecord) -> Result<()> {
        self.write(&serde_json::to_value(r).map_err(|e| crate::Error::Invalid(e.to_string()))?)?;
        if self.console {
            eprintln!(
                "{} epoch {}/{}: train loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} F1 {:.3}{} | {:.0} img/s",
                self.phase,
                r.epoch,
                self.epochs,
                r.train_loss,
                r.train_accuracy,
                r.val_loss,
                r.val_accuracy,
                r.val_macro_f1,
                if r.best { " *" } else { "" },
                r.images_per_s
            );
        }
        for (h, v) in self.history.iter_mut().zip([r.train_loss, r.val_loss, r.train_accuracy, r.val_accuracy]) {
            h.push(v);
        }
        Ok(())
    }

    /// A rollback of the divergence guard, as a line of metrics.jsonl.
    pub fn rollback(&mut self, r: &super::guard::Rollback) -> Result<()> {
        let mut v = serde_json::to_value(r).map_err(|e| crate::Error::Invalid(e.to_string()))?;
        v["phase"] = self.phase.clone().into();
        self.write(&v)
    }

    /// The plots (a plot that cannot be written is a warning, not an error) and the test line.
    pub fn finish(&mut self, test: &Eval, class_names: &[String], best_epoch: usize) -> Result<()> {
        let (phase, h) = (&self.phase, &self.history);
        let mut conf = Confusion::new(class_names);
        conf.counts = test.summary.confusion.clone();
        let file = |what: &str| self.files.plot(what);
        let plots = [
            plot::line_chart(&file("loss"), &format!("{phase} loss"), &[("train", &h[0]), ("val", &h[1])]),
            plot::line_chart(&file("accuracy"), &format!("{phase} accuracy"), &[("train", &h[2]), ("val", &h[3])]),
            plot::confusion_png(&file("confusion"), &format!("{phase} test confusion"), &conf),
        ];
        for e in plots.into_iter().filter_map(|r| r.err()) {
            eprintln!("warning: a plot was not written: {e}");
        }
        let line = serde_json::json!({ "phase": phase, "test": test.summary, "test_loss": test.loss, "act_ranges": test.ranges, "best_epoch": best_epoch });
        self.write(&line)
    }
}

/// A progress bar over `len` images on stderr (hidden when `show` is false).
pub(crate) fn progress(show: bool, len: usize, prefix: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} img {per_sec} ETA {eta} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(prefix.to_string());
    bar
}
