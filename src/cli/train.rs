//! Commands that make data and train: `demo`, `synth`, `train-teacher`, `train-student`.

use super::args::*;
use super::gpu;
use clap::Args;
use heft::data::synth;
use heft::recipe::Recipe;
use heft::report::metrics::format_summary;
use heft::train::{Data, Job, Phase, RunFiles, RunResult, Start, StudentJob};
use heft::tune::Tuning;
use heft::{Error, Result};
use std::path::PathBuf;

/// Synthesise a dataset, train a small teacher, distil its HE-friendly student, compare.
#[derive(Args)]
pub struct Demo {
    /// Output folder (default runs/demo-<UTC time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Epochs of each phase.
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    /// Train both phases again in --out, replacing an earlier demo there. Without it a demo
    /// that was stopped resumes, and finished phases are skipped.
    #[arg(long)]
    pub fresh: bool,
    #[command(flatten)]
    pub tune: Tuning,
}

impl Demo {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref out, epochs, fresh, ref tune } = *self;
        if epochs == 0 {
            return Err(Error::Invalid("--epochs must be at least 1".into()));
        }
        let out = out_dir(out, "demo");
        heft::demo::prepare(&out, fresh)?;
        let t0 = std::time::Instant::now();
        let (t, s) = heft::demo::run(&gpu(adapter)?, &out, epochs, tune)?;
        let (t, s) = (&t.test.summary, &s.test.summary);
        println!("\n{:<10} {:>10} {:>10}", "test set", "accuracy", "macro-F1");
        println!("{:<10} {:>10.4} {:>10.4}", "teacher", t.accuracy, t.macro_f1);
        println!("{:<10} {:>10.4} {:>10.4}", "student", s.accuracy, s.macro_f1);
        println!("{:<10} {:>+10.4} {:>+10.4}", "gap", s.accuracy - t.accuracy, s.macro_f1 - t.macro_f1);
        println!("\ndemo took {:.0} s; checkpoints, metrics (*.jsonl) and plots (*.png) are in {}", t0.elapsed().as_secs_f64(), out.display());
        Ok(())
    }
}

/// Write a synthetic chest-scan-like dataset (folder per class, train/val/test).
#[derive(Args)]
pub struct Synth {
    /// Folder to write (train/, val/, test/ with a folder per class): new, empty, or an earlier
    /// synthetic dataset (replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of classes, 2 or 3 (0_normal, 1_lesion, 2_diffuse).
    #[arg(long, default_value_t = 2)]
    pub classes: usize,
    /// Image side in pixels, 16 to 4096 (grayscale PNG).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Images per class in the train split.
    #[arg(long, default_value_t = 300)]
    pub train: usize,
    /// Images per class in the val split.
    #[arg(long, default_value_t = 60)]
    pub val: usize,
    /// Images per class in the test split.
    #[arg(long, default_value_t = 60)]
    pub test: usize,
    /// Seed of the generator (same seed, same images).
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
    /// How strongly the classes show (1 = default task; larger is easier).
    #[arg(long, default_value_t = 1.0)]
    pub strength: f32,
}

impl Synth {
    pub fn run(&self) -> Result<()> {
        let Self { ref out, classes, size, train, val, test, seed, strength } = *self;
        synth::generate(out, classes, size, (train, val, test), seed, strength)?;
        println!("wrote a synthetic {classes}-class dataset ({size}x{size}) to {}", out.display());
        Ok(())
    }
}

/// Train the ReLU teacher.
#[derive(Args)]
pub struct TrainTeacher {
    #[command(flatten)]
    pub data: Source,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub recipe: Recipe,
    #[command(flatten)]
    pub run: RunArgs,
    /// Start from a torchvision-named safetensors file (e.g. ImageNet AlexNet); tensors that
    /// do not fit (head, input size) keep their fresh values and are reported.
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    #[command(flatten)]
    pub tune: Tuning,
}

impl TrainTeacher {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref data, ref model, ref recipe, ref run, ref pretrained, ref tune } = *self;
        recipe.check()?;
        let out = out_dir(&run.out, "teacher");
        RunFiles::new(&out, Phase::Teacher).prepare(run.fresh)?;
        let d = Data::open(data)?;
        let gpu = gpu(adapter)?;
        let start = Start::Fresh { config: model_config(model, d.train.classes.clone()), pretrained: pretrained.clone() };
        let res = Job { start, student: None }.train(&gpu, &d, recipe, tune, &out)?;
        report(Phase::Teacher, &res);
        Ok(())
    }
}

/// Convert a teacher into its HE-friendly student and distil the teacher into it.
#[derive(Args)]
pub struct TrainStudent {
    /// The teacher checkpoint (teacher.safetensors with teacher.json beside it).
    #[arg(long)]
    pub teacher: PathBuf,
    #[command(flatten)]
    pub data: Source,
    #[command(flatten)]
    pub student: StudentArgs,
    #[command(flatten)]
    pub recipe: Recipe,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub tune: Tuning,
}

impl TrainStudent {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref teacher, ref data, ref student, ref recipe, ref run, ref tune } = *self;
        recipe.check()?;
        let out = out_dir(&run.out, "student");
        RunFiles::new(&out, Phase::Student).prepare(run.fresh)?;
        let d = Data::open(data)?;
        let gpu = gpu(adapter)?;
        let (config, schedule) = student_config(student)?;
        let recipe = Recipe { schedule, ..recipe.clone() };
        let student = StudentJob { from: student.from_student.clone(), depth_budget: student.depth_budget, ..StudentJob::method(config) };
        let job = Job { start: Start::Checkpoint(teacher.clone()), student: Some(student) };
        let res = job.train(&gpu, &d, &recipe, tune, &out)?;
        report(Phase::Student, &res);
        Ok(())
    }
}

/// The current UTC time as YYYYMMDD-HHMMSS (for default run folders).
pub fn timestamp() -> String {
    stamp(time::OffsetDateTime::now_utc())
}

fn stamp(t: time::OffsetDateTime) -> String {
    let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", t.hour(), t.minute(), t.second())
}

pub fn out_dir(given: &Option<PathBuf>, phase: &str) -> PathBuf {
    given.clone().unwrap_or_else(|| PathBuf::from(format!("runs/{phase}-{}", timestamp())))
}

pub fn report(phase: Phase, r: &RunResult) {
    println!(
        "{phase}: best epoch {} (val macro-F1 {:.4}); test accuracy {:.4}, macro-F1 {:.4}; {:.1} s; checkpoint {}",
        r.best_epoch,
        r.best_val.macro_f1,
        r.test.summary.accuracy,
        r.test.summary.macro_f1,
        r.seconds,
        r.checkpoint.display()
    );
    println!("{}", format_summary(&r.test.summary));
}


#[cfg(test)]
mod tests {
    /// Instants whose calendar dates are known: the epoch, a leap day and the last second of a
    /// leap year (Unix seconds from `date -u -d ... +%s`).
    #[test]
    fn stamps_of_known_instants() {
        for (secs, want) in [(0, "19700101-000000"), (951_827_696, "20000229-123456"), (1_483_228_799, "20161231-235959")] {
            let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
            assert_eq!(super::stamp(t), want);
        }
    }
}
