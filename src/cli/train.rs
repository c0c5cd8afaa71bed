//! Commands that make data and train: `demo`, `synth`, `train-teacher`, `train-student`.

use super::args::*;
use super::data::load_data;
use super::gpu;
use super::tune::TuneArgs;
use clap::Args;
use heft::data::synth;
use heft::nn::checkpoint::{self, LoadMode};
use heft::nn::convert::to_student;
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};
use heft::optim::Clip;
use heft::report::metrics::format_summary;
use heft::recipe::Recipe;
use heft::train::{self, Data, RunResult};
use heft::{Error, Gpu, Result};
use std::path::{Path, PathBuf};

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
    pub tune: TuneArgs,
}

impl Demo {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref out, epochs, fresh, ref tune } = *self;
        if epochs == 0 {
            return Err(Error::Invalid("--epochs must be at least 1".into()));
        }
        let out = out_dir(out, "demo");
        if fresh {
            train::start_over(&out, "teacher")?;
            train::start_over(&out, "student")?;
        } else if out.join("teacher.safetensors").exists() && !train::holds_run(&out, "teacher") {
            return Err(Error::Invalid(format!("{} already holds a run; choose another --out or pass --fresh", out.display())));
        }
        demo(&gpu(adapter)?, &out, epochs, tune)?;
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
    pub data: DataArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Start from a torchvision-named safetensors file (e.g. ImageNet AlexNet); tensors that
    /// do not fit (head, input size) keep their fresh values and are reported.
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    #[command(flatten)]
    pub tune: TuneArgs,
}

impl TrainTeacher {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref data, ref model, ref recipe, ref pretrained, ref tune } = *self;
        let out = out_dir(&recipe.out, "teacher");
        prepare(&out, "teacher", recipe.fresh)?;
        let d = load_data(data)?;
        let r = self::recipe(recipe, data.seed)?;
        let gpu = gpu(adapter)?;
        let start = Start::Fresh { config: model_config(model, d.train.classes.clone()), pretrained: pretrained.clone() };
        let res = train_run(&gpu, &d, &Job { start, student: None }, &r, tune, &out)?;
        report("teacher", &res);
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
    pub data: DataArgs,
    #[command(flatten)]
    pub student: StudentArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    #[command(flatten)]
    pub tune: TuneArgs,
}

impl TrainStudent {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref teacher, ref data, ref student, ref recipe, ref tune } = *self;
        let out = out_dir(&recipe.out, "student");
        prepare(&out, "student", recipe.fresh)?;
        let d = load_data(data)?;
        let mut r = self::recipe(recipe, data.seed)?;
        let gpu = gpu(adapter)?;
        let (scfg, schedule) = student_config(student)?;
        r.schedule = schedule;
        let job = Job { start: Start::Checkpoint(teacher.clone()), student: Some(StudentJob { config: scfg, distil: true }) };
        let res = train_run(&gpu, &d, &job, &r, tune, &out)?;
        report("student", &res);
        Ok(())
    }
}

/// The ReLU network a run starts from.
pub enum Start {
    /// Freshly initialised with the recipe's seed (then, optionally, torchvision-named weights
    /// loaded into it).
    Fresh { config: ModelConfig, pretrained: Option<PathBuf> },
    /// A trained teacher checkpoint.
    Checkpoint(PathBuf),
}

/// One training run, as `train-teacher`, `train-student` and `heft experiment` describe it.
pub struct Job {
    pub start: Start,
    /// Train the HE-friendly student of the start network (its weights copied) instead of it.
    pub student: Option<StudentJob>,
}

pub struct StudentJob {
    pub config: StudentConfig,
    /// Distil the start network into the student (KD); off, the student learns from the
    /// labels alone.
    pub distil: bool,
}

/// Train what `job` describes with `recipe` into `out` (`teacher.*` or `student.*` there): the
/// one place the commands build, tune and train a model.
pub fn train_run(gpu: &Gpu, data: &Data, job: &Job, recipe: &Recipe, tune: &TuneArgs, out: &Path) -> Result<RunResult> {
    let start = match &job.start {
        Start::Fresh { config, pretrained } => {
            let mut m = Model::teacher(gpu, config.clone(), recipe.seed)?;
            if let Some(p) = pretrained {
                let rep = checkpoint::load_state(&mut m, p, LoadMode::Pretrained)?;
                eprintln!("pretrained {}: {}", p.display(), rep.describe());
            }
            m
        }
        Start::Checkpoint(p) => checkpoint::load(gpu, p)?,
    };
    tune.apply(gpu, start.config.clone(), job.student.as_ref().map(|s| s.config.clone()), recipe.batch)?;
    match &job.student {
        None => {
            let mut teacher = start;
            train::train(&mut teacher, None, data, recipe, out, "teacher")
        }
        Some(s) => {
            let mut student = to_student(&start, &s.config)?;
            train::train(&mut student, s.distil.then_some(&start), data, recipe, out, "student")
        }
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

/// Prepare `out` for a run of `phase`. With `fresh`, forget what an earlier run left there.
/// Without, a finished run or an epoch state is `train`'s to skip or resume, and a checkpoint
/// or metrics log without either (a run stopped in its first epoch, or from an older heft) is
/// refused rather than replaced.
pub fn prepare(out: &Path, phase: &str, fresh: bool) -> Result<()> {
    if fresh {
        return train::start_over(out, phase);
    }
    if train::holds_run(out, phase) {
        return Ok(());
    }
    for file in [format!("{phase}.safetensors"), format!("{phase}_metrics.jsonl")] {
        let path = out.join(file);
        if path.exists() {
            return Err(Error::Invalid(format!("{} already exists; choose another --out or pass --fresh to replace it", path.display())));
        }
    }
    Ok(())
}

pub fn report(phase: &str, r: &RunResult) {
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

pub fn demo(gpu: &Gpu, out: &Path, epochs: usize, tune: &TuneArgs) -> Result<()> {
    let t0 = std::time::Instant::now();
    let data_dir = out.join("data");
    println!("1/3 synthesising a 2-class dataset (64x64 grayscale, labelled synthetic) in {}", data_dir.display());
    synth::generate(&data_dir, 2, 64, (320, 80, 100), 123, 1.5)?;
    let data = load_data(&DataArgs { data: data_dir, format: Format::Folder, images: None, strict: false, seed: 123, split_seed: 123 })?;
    let cfg = ModelConfig { width: 0.25, hidden: 256, ..ModelConfig::new(Arch::Alexnet, data.train.classes.clone(), 1, 64) };
    tune.apply(gpu, cfg.clone(), None, 32)?;
    tune.apply(gpu, cfg.clone(), Some(StudentConfig::default()), 32)?;
    let mut teacher = Model::teacher(gpu, cfg, 123)?;
    println!("2/3 training the ReLU teacher (AlexNet, width x0.25, hidden 256; {} parameters)", teacher.param_count());
    let r = Recipe { epochs, batch: 32, ..Recipe::default() };
    let tr = train::train(&mut teacher, None, &data, &r, out, "teacher")?;
    println!("3/3 converting to the HE-friendly student (avg-pool, BN, trainable x² polynomials) and distilling");
    let scfg = StudentConfig::default();
    let mut student = to_student(&teacher, &scfg)?;
    let rs = Recipe { lr: 1e-4, clip: Clip::Value(1.0), ..r };
    let sr = train::train(&mut student, Some(&teacher), &data, &rs, out, "student")?;
    let (t, s) = (&tr.test.summary, &sr.test.summary);
    println!("\n{:<10} {:>10} {:>10}", "test set", "accuracy", "macro-F1");
    println!("{:<10} {:>10.4} {:>10.4}", "teacher", t.accuracy, t.macro_f1);
    println!("{:<10} {:>10.4} {:>10.4}", "student", s.accuracy, s.macro_f1);
    println!("{:<10} {:>+10.4} {:>+10.4}", "gap", s.accuracy - t.accuracy, s.macro_f1 - t.macro_f1);
    println!("\ndemo took {:.0} s; checkpoints, metrics (*.jsonl) and plots (*.png) are in {}", t0.elapsed().as_secs_f64(), out.display());
    Ok(())
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
