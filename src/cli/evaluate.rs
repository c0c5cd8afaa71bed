//! Commands that use a trained model: `eval`, `predict`, `summary`.

use super::args::*;
use super::data::*;
use super::gpu;
use clap::{Args, ValueEnum};
use heft::data::{has_split_folders, image::Normalize};
use heft::nn::checkpoint;
use heft::nn::convert::to_student;
use heft::nn::model::{Model, StudentConfig};
use heft::predict;
use heft::report::metrics::format_summary;
use heft::train;
use heft::train::Data;
use heft::{Error, Result};
use std::path::PathBuf;

/// Evaluate a checkpoint: accuracy, per-class precision/recall/F1, confusion matrix.
#[derive(Args)]
pub struct Eval {
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: Source,
    /// Images to score (default: test; every image when --data has no train/val/test split,
    /// e.g. an external test set).
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
}

impl Eval {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref model, ref data, split, batch } = *self;
        let d = Data::open(data)?;
        let gpu = gpu(adapter)?;
        let m = checkpoint::load(&gpu, model)?;
        if d.test.classes != m.config.class_names {
            return Err(Error::Invalid(format!("the data's classes {:?} differ from the model's {:?}", d.test.classes, m.config.class_names)));
        }
        // an external test set comes without splits: score all of it, not a 15% share
        let flat = matches!(data.format, Format::Folder) && !has_split_folders(&data.data);
        let split = split.unwrap_or(if flat { Split::All } else { Split::Test });
        let ds = split_of(&d, split);
        let e = train::evaluate(&m, &d, &ds, batch.max(1))?;
        let which = match (split, flat) {
            (Split::All, true) => "every image (the folder has no train/val/test split)".to_string(),
            (Split::All, false) => "every split".to_string(),
            (s, _) => format!("the {} split", s.to_possible_value().map_or(String::new(), |v| v.get_name().to_string())),
        };
        println!("scored {} of the {} images of {}: {which}", e.summary.confusion.iter().flatten().sum::<u64>(), ds.len(), data.data.display());
        println!("loss {:.4}\n{}", e.loss, format_summary(&e.summary));
        for r in &e.ranges {
            println!("activation {:<36} input range [{:.3}, {:.3}]", r.name, r.min, r.max);
        }
        Ok(())
    }
}

/// Predict the class of every image: one row per image with its path, predicted class and
/// the probability of each class; a summary (and unreadable files) on the console.
#[derive(Args)]
pub struct Predict {
    /// The checkpoint, teacher or student (its JSON config beside it says which).
    #[arg(long)]
    pub model: PathBuf,
    /// Image files, or folders searched recursively for .png/.jpg/.jpeg.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the predictions to this new file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace --out if it exists.
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long, value_enum, default_value_t = PredictFormat::Csv)]
    pub format: PredictFormat,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Skip truncated image files (listed as unreadable) instead of using them with a warning.
    #[arg(long)]
    pub strict: bool,
}

impl Predict {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref model, ref inputs, ref out, overwrite, format, batch, strict } = *self;
        if batch == 0 {
            return Err(Error::Invalid("--batch must be at least 1".into()));
        }
        if let Some(o) = out {
            predict::check_out(o, overwrite)?;
        }
        let paths = predict::gather(inputs)?;
        let gpu = gpu(adapter)?;
        let m = checkpoint::load(&gpu, model)?;
        let p = predict::run(&m, &paths, batch, Normalize::default(), strict, true)?;
        let text = match format {
            PredictFormat::Csv => predict::to_csv(&p),
            PredictFormat::Json => predict::to_json(&p)?,
        };
        match out {
            Some(o) => predict::write_new(o, &text, overwrite)?,
            None => print!("{text}"),
        }
        eprint!("{}", predict::summary(&p));
        if let Some(o) = out {
            eprintln!("wrote {}", o.display());
        }
        Ok(())
    }
}

/// Layers, output shapes, parameters, FLOPs and activation count of a model.
#[derive(Args)]
pub struct Summary {
    /// Summarise this checkpoint instead of a fresh model.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub fresh: FreshModelArgs,
}

impl Summary {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref checkpoint, ref fresh } = *self;
        let gpu = gpu(adapter)?;
        let m = match checkpoint {
            Some(p) => checkpoint::load(&gpu, p)?,
            None => {
                let t = Model::teacher(&gpu, fresh.config(), 0)?;
                if fresh.student {
                    to_student(&t, &StudentConfig::default())?
                } else {
                    t
                }
            }
        };
        print!("{}", heft::nn::summary::format(&m)?);
        Ok(())
    }
}

