//! The arguments several commands share (data, model, student, recipe) and their checked
//! conversion into heft's configs.

use clap::{Args, ValueEnum};
use heft::nn::convert::Schedule;
use heft::nn::layers::ActKind;
use heft::nn::model::{Arch, ModelConfig, StudentConfig};
use heft::optim::Clip;
use heft::recipe::Recipe;
use heft::{Error, Result};
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

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// root/{train,val,test}/<class>/*.png|jpg, or root/<class>/... (split 70/15/15)
    Folder,
    /// COVIDx CXR: root/<split>_split.txt (`patient_id filename label source`), images in root/<split>/
    Cxr,
    /// COVIDx CT-2A: root/<split>_COVIDx_CT-2A.txt (`filename class xmin ymin xmax ymax`), images in root/2A_images/
    Ct,
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
    /// Seed of the split (when the dataset has none), shuffling, augmentation and init.
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
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
    /// SqueezeNet trained from scratch needs it. ResNet-20 always has batch norm.
    #[arg(long)]
    pub batchnorm: bool,
}

#[derive(Args)]
pub struct StudentArgs {
    /// Activation replacing ReLU.
    #[arg(long, value_enum, default_value_t = ActArg::Poly)]
    pub act: ActArg,
    /// Initial polynomial coefficients c0,c1,c2 (c0 + c1·x + c2·x²).
    #[arg(long, default_value = "0,0.5,0.05", value_parser = parse_coefs)]
    pub init: [f32; 3],
    /// Do not insert BatchNorm (AlexNet: after pooling; SqueezeNet: after convolutions). A
    /// teacher's own batch norms (ResNet-20, a teacher trained with --batchnorm) are kept.
    #[arg(long)]
    pub no_bn: bool,
    /// When activations switch to polynomials.
    #[arg(long, value_enum, default_value_t = ScheduleArg::All)]
    pub schedule: ScheduleArg,
    /// First epoch (from 0) of the layer-by-layer or smooth schedule.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Epochs per activation of the layer-by-layer or smooth schedule.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ActArg {
    Poly,
    Square,
    ApproxRelu,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    All,
    Layer,
    Smooth,
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
    if r.epochs == 0 || r.batch == 0 {
        return Err(Error::Invalid("--epochs and --batch must be at least 1".into()));
    }
    if !(r.lr > 0.0 && r.coef_lr >= 0.0 && r.weight_decay >= 0.0) {
        return Err(Error::Invalid("learning rates must be positive and the weight decay non-negative".into()));
    }
    if r.max_range.is_some_and(|m| m.is_nan() || m <= 0.0) {
        return Err(Error::Invalid("--max-range must be positive".into()));
    }
    if !(r.temperature > 0.0 && r.range > 0.0 && r.alpha >= 0.0 && r.range_weight >= 0.0) {
        return Err(Error::Invalid("--temperature and --range must be positive, --alpha and --range-weight non-negative".into()));
    }
    let clip = match (r.clip_value, r.clip_norm) {
        (Some(v), _) if v > 0.0 => Clip::Value(v),
        (_, Some(v)) if v > 0.0 => Clip::Norm(v),
        (None, None) => Clip::None,
        _ => return Err(Error::Invalid("clipping thresholds must be positive".into())),
    };
    Ok(Recipe {
        epochs: r.epochs,
        batch: r.batch,
        lr: r.lr,
        weight_decay: r.weight_decay,
        coef_lr: r.coef_lr,
        clip,
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
    })
}

pub fn model_config(m: &ModelArgs, classes: Vec<String>) -> ModelConfig {
    ModelConfig { width: m.width, hidden: m.hidden, conv1_pad: m.conv1_pad, batchnorm: m.batchnorm, ..ModelConfig::new(m.arch, classes, m.channels, m.input) }
}

pub fn student_config(s: &StudentArgs) -> Result<(StudentConfig, Schedule)> {
    if s.every == 0 {
        return Err(Error::Invalid("--every must be at least 1".into()));
    }
    let act = match s.act {
        ActArg::Poly => ActKind::Poly,
        ActArg::Square => ActKind::Square,
        ActArg::ApproxRelu => ActKind::ApproxRelu,
    };
    let schedule = match s.schedule {
        ScheduleArg::All => Schedule::AllAtOnce,
        ScheduleArg::Layer => Schedule::LayerByLayer { start: s.start, every: s.every },
        ScheduleArg::Smooth => Schedule::Smooth { start: s.start, every: s.every },
    };
    Ok((StudentConfig { act, init: s.init, batchnorm: !s.no_bn }, schedule))
}
