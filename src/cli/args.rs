//! The arguments several commands share (data, model, student, recipe) and their checked
//! conversion into heft's configs.

use clap::{Args, ValueEnum};
pub use heft::data::Format;
pub use heft::train::Source;
use heft::nn::convert::{Schedule, ScheduleKind, StudentAct};
use heft::nn::model::{Arch, ModelConfig, StudentConfig};
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
    /// Linearise these activations (comma-separated names, e.g. classifier.2,classifier.5):
    /// c0 + c1·x with no x² term, which costs no CKKS level (`heft summary --student` lists
    /// the names).
    #[arg(long, value_delimiter = ',')]
    pub linear: Vec<String>,
    /// Linearise activations one at a time, each the one that costs the least validation loss
    /// per level saved, until the CKKS depth (`heft he-report`) is at most D; then distil.
    #[arg(long, value_name = "D")]
    pub depth_budget: Option<usize>,
    /// Start from this trained student of the teacher (e.g. the method student) instead of
    /// converting the teacher: its own activations and batch norms, then --linear and
    /// --depth-budget; the teacher still distils into it.
    #[arg(long, value_name = "CHECKPOINT")]
    pub from_student: Option<PathBuf>,
}

/// Where a training command writes, and whether it starts over there.
#[derive(Args)]
pub struct RunArgs {
    /// Output folder (default runs/<phase>-<UTC time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Start this phase over in --out, replacing what an earlier run of it left there. Without
    /// it a finished run is skipped and a killed one resumes after its last finished epoch.
    #[arg(long, alias = "overwrite")]
    pub fresh: bool,
}

pub fn parse_coefs(s: &str) -> std::result::Result<[f32; 3], String> {
    let v: Vec<f32> = s.split(',').map(|t| t.trim().parse::<f32>()).collect::<std::result::Result<_, _>>().map_err(|e| format!("{s:?}: {e}"))?;
    <[f32; 3]>::try_from(v).map_err(|v| format!("expected three numbers c0,c1,c2, got {}", v.len()))
}


pub fn model_config(m: &ModelArgs, classes: Vec<String>) -> ModelConfig {
    ModelConfig { width: m.width, hidden: m.hidden, conv1_pad: m.conv1_pad, batchnorm: m.batchnorm, ..ModelConfig::new(m.arch, classes, m.channels, m.input) }
}

pub fn student_config(s: &StudentArgs) -> Result<(StudentConfig, Schedule)> {
    let schedule = Schedule::new(s.schedule, s.start, s.every)?;
    Ok((StudentConfig { act: s.act.into(), init: s.init, batchnorm: !s.no_bn, linear: s.linear.clone() }, schedule))
}
