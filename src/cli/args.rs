//! The arguments several commands share (data, model, student, recipe) and their checked
//! conversion into heft's configs.

use clap::{Args, ValueEnum};
pub use heft::data::Format;
use heft::nn::convert::{Schedule, ScheduleKind, StudentAct};
use heft::nn::model::{Arch, ModelConfig, StudentConfig};
use heft::optim::Clip;
use heft::recipe::Recipe;
use heft::Result;
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Split {
    Train,
    Val,
    Test,
    /// Every image of the dataset (all splits together).
    All,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PredictFormat {
    /// `path,predicted,<class>...` with one probability column per class
    Csv,
    /// `{"classes", "predictions": [{"path", "predicted", "probabilities"}], "unreadable"}`
    Json,
}

#[derive(Args)]
pub struct DataArgs {
    /// Dataset root.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Folder)]
    pub format: Format,
    /// Image folder for the label-file formats (default: see --format).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Stop at the first unreadable or truncated image instead of skipping it (truncated files
    /// are otherwise used, with a warning, as the decoder fills them in).
    #[arg(long)]
    pub strict: bool,
    /// Seed of shuffling, augmentation, dropout and initialisation.
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
    /// Seed of the train/val/test split when the dataset has none (a folder of class folders):
    /// kept apart from --seed so that runs with other seeds (a student and its teacher, the
    /// seeds of an experiment) see the same test images.
    #[arg(long, default_value_t = 123)]
    pub split_seed: u64,
}

/// A freshly initialised model (summary, profile).
#[derive(Args)]
pub struct FreshModelArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Number of output classes.
    #[arg(long, default_value_t = 2)]
    pub classes: usize,
    /// The HE-friendly student of the model (profile: its distillation step, the teacher's
    /// forward included) instead of the ReLU teacher.
    #[arg(long)]
    pub student: bool,
}

impl FreshModelArgs {
    pub fn config(&self) -> ModelConfig {
        model_config(&self.model, (0..self.classes).map(|i| format!("class{i}")).collect())
    }
}

#[derive(Args)]
pub struct ModelArgs {
    #[arg(long = "model", value_enum, default_value_t = Arch::Alexnet)]
    pub arch: Arch,
    /// Input size in pixels (images are resized to it).
    #[arg(long, default_value_t = 64)]
    pub input: usize,
    /// Input channels: 1 (grayscale) or 3.
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Channel multiplier (1 = torchvision widths).
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// AlexNet hidden fully-connected size.
    #[arg(long, default_value_t = 4096)]
    pub hidden: usize,
    /// AlexNet conv1 padding (5 as in the paper's AlexNet-FHE; torchvision uses 2).
    #[arg(long, default_value_t = 5)]
    pub conv1_pad: usize,
    /// BatchNorm in the teacher where its student gets one (SqueezeNet: after every feature
    /// convolution; AlexNet: after each max pool), so the student keeps the trained ones.
    /// ResNet-20 always has batch norm.
    #[arg(long)]
    pub batchnorm: bool,
}

#[derive(Args)]
pub struct StudentArgs {
    /// Activation replacing ReLU.
    #[arg(long, value_enum, default_value_t = StudentAct::Poly)]
    pub act: StudentAct,
    /// Initial polynomial coefficients c0,c1,c2 (c0 + c1·x + c2·x²).
    #[arg(long, default_value = "0,0.5,0.05", value_parser = parse_coefs)]
    pub init: [f32; 3],
    /// Do not insert BatchNorm (AlexNet: after pooling; SqueezeNet: after convolutions). A
    /// teacher's own batch norms (ResNet-20, a teacher trained with --batchnorm) are kept.
    #[arg(long)]
    pub no_bn: bool,
    /// When activations switch to polynomials.
    #[arg(long, value_enum, default_value_t = ScheduleKind::All)]
    pub schedule: ScheduleKind,
    /// First epoch (from 0) of the layer-by-layer or smooth schedule.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Epochs per activation of the layer-by-layer or smooth schedule.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
}

#[derive(Args)]
pub struct RecipeArgs {
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// Learning rate of the activation coefficients (student).
    #[arg(long, default_value_t = 2e-4)]
    pub coef_lr: f32,
    /// Clamp gradients to [-v, v].
    #[arg(long, conflicts_with = "clip_norm")]
    pub clip_value: Option<f32>,
    /// Scale gradients to a global L2 norm of at most v.
    #[arg(long)]
    pub clip_norm: Option<f32>,
    /// Distillation weight α (student).
    #[arg(long, default_value_t = 0.1)]
    pub alpha: f32,
    /// Distillation temperature T (student).
    #[arg(long, default_value_t = 10.0)]
    pub temperature: f32,
    /// Range-awareness loss weight (student; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub range_weight: f32,
    /// Range bound R of the range-awareness loss.
    #[arg(long, default_value_t = 10.0)]
    pub range: f32,
    #[arg(long)]
    pub no_augment: bool,
    #[arg(long)]
    pub no_class_weights: bool,
    /// Rollbacks to the last good state (learning rates halved each time) before a diverging
    /// run stops: a non-finite loss, or a student's activation input beyond --max-range.
    #[arg(long, default_value_t = 3)]
    pub max_rollbacks: usize,
    /// Largest |activation input| of a student before the run counts as diverging
    /// (default: 100 × --range).
    #[arg(long)]
    pub max_range: Option<f32>,
    /// Never stop on divergence: roll back as often as needed.
    #[arg(long)]
    pub continue_with_nans: bool,
    /// Output folder (default runs/<phase>-<UTC time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Start this phase over in --out, replacing what an earlier run of it left there. Without
    /// it a finished run is skipped and a killed one resumes after its last finished epoch.
    #[arg(long, alias = "overwrite")]
    pub fresh: bool,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
}

pub fn parse_coefs(s: &str) -> std::result::Result<[f32; 3], String> {
    let v: Vec<f32> = s.split(',').map(|t| t.trim().parse::<f32>()).collect::<std::result::Result<_, _>>().map_err(|e| format!("{s:?}: {e}"))?;
    <[f32; 3]>::try_from(v).map_err(|v| format!("expected three numbers c0,c1,c2, got {}", v.len()))
}


pub fn recipe(r: &RecipeArgs, seed: u64) -> Result<Recipe> {
    let recipe = Recipe {
        epochs: r.epochs,
        batch: r.batch,
        lr: r.lr,
        weight_decay: r.weight_decay,
        coef_lr: r.coef_lr,
        clip: Clip::from_thresholds(r.clip_value, r.clip_norm)?,
        seed,
        augment: !r.no_augment,
        class_weights: !r.no_class_weights,
        kd_alpha: r.alpha,
        kd_t: r.temperature,
        range_weight: r.range_weight,
        range_r: r.range,
        max_rollbacks: r.max_rollbacks,
        max_range: r.max_range,
        continue_with_nans: r.continue_with_nans,
        progress: !r.quiet,
        ..Recipe::default()
    };
    recipe.check()?;
    Ok(recipe)
}

pub fn model_config(m: &ModelArgs, classes: Vec<String>) -> ModelConfig {
    ModelConfig { width: m.width, hidden: m.hidden, conv1_pad: m.conv1_pad, batchnorm: m.batchnorm, ..ModelConfig::new(m.arch, classes, m.channels, m.input) }
}

pub fn student_config(s: &StudentArgs) -> Result<(StudentConfig, Schedule)> {
    let schedule = Schedule::new(s.schedule, s.start, s.every)?;
    Ok((StudentConfig { act: s.act.into(), init: s.init, batchnorm: !s.no_bn }, schedule))
}
