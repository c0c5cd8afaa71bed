//! The training recipe: every hyper-parameter of a run, declared once here with its default and
//! its help. The command line takes the fields as flags (`#[command(flatten)]`), experiment
//! files as keys of the same names in snake case (`weight_decay` for `--weight-decay`), and the
//! default of both is the one written in the field's attribute. Defaults: the paper's, from
//! IBM's reference code, except the batch: 32 instead of 200, for small GPUs and lavapipe.

use crate::error::{Error, Result};
use crate::nn::convert::Schedule;
use crate::ops::optim::AdamCfg;
use crate::optim::{Clip, OptimizerKind, Trainer};
use crate::step::Loss;
use clap::{ArgAction, Args};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of one training run: Adam lr 1e-3, weight decay 5e-4, 2e-4 for the
/// activation coefficients, KD with T = 10 and α = 0.1 (Baruch et al.).
#[derive(Args, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recipe {
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// The optimiser: Adam (the paper's) or SGD with --momentum.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub optimizer: OptimizerKind,
    /// Momentum of SGD (0: plain SGD).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
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
    /// Seed of shuffling, augmentation, dropout and initialisation (an experiment sets it from
    /// its `seeds`).
    #[arg(long, default_value_t = 123)]
    #[serde(skip_deserializing)]
    pub seed: u64,
    /// Plateau schedule on the validation loss: factor, patience (epochs), floor.
    #[arg(skip = (0.5, 2, 1e-5))]
    #[serde(skip_deserializing)]
    pub plateau: (f32, usize, f32),
    /// Random crops and flips of the training images (`--no-augment`: off).
    #[arg(long = "no-augment", action = ArgAction::SetFalse)]
    pub augment: bool,
    /// Weight CE by inverse class frequency of the training set (`--no-class-weights`: off).
    #[arg(long = "no-class-weights", action = ArgAction::SetFalse)]
    pub class_weights: bool,
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
    /// When a student's activations become polynomial (from the student's `--schedule`,
    /// `--start` and `--every`).
    #[arg(skip = Schedule::AllAtOnce)]
    #[serde(skip_deserializing)]
    pub schedule: Schedule,
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
    /// Progress bars and per-epoch lines (`--quiet`: none); not part of what a run computes.
    #[arg(long = "quiet", action = ArgAction::SetFalse)]
    #[serde(skip)]
    pub progress: bool,
}

impl Default for Recipe {
    /// The defaults of the flags above.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            recipe: Recipe,
        }
        <Flags as clap::Parser>::parse_from(["heft"]).recipe
    }
}

impl Recipe {
    /// Refuse settings no run can use (the messages name the command-line flags, which share
    /// their names with an experiment file's keys).
    pub fn check(&self) -> Result<()> {
        // A non-finite value would also be written into the run's fingerprint as JSON null,
        // the same as an unset option (`max_range = inf` would match a run of the default bound).
        let floats = [("momentum", Some(self.momentum)), ("lr", Some(self.lr)), ("weight-decay", Some(self.weight_decay)), ("coef-lr", Some(self.coef_lr)),
            ("clip-value", self.clip_value), ("clip-norm", self.clip_norm), ("alpha", Some(self.alpha)), ("temperature", Some(self.temperature)),
            ("range-weight", Some(self.range_weight)), ("range", Some(self.range)), ("max-range", self.max_range)];
        if let Some((name, v)) = floats.iter().find_map(|&(n, v)| v.filter(|v| !v.is_finite()).map(|v| (n, v))) {
            let hint = if name.starts_with("max-range") || name.starts_with("clip") { " (for no bound in practice, give a large one such as 1e30)" } else { "" };
            return Err(Error::Invalid(format!("{name} must be a finite number, not {v}{hint}")));
        }
        if self.epochs == 0 || self.batch == 0 {
            return Err(Error::Invalid("epochs and batch must be at least 1".into()));
        }
        if !(self.lr > 0.0 && self.coef_lr >= 0.0 && self.weight_decay >= 0.0 && (0.0..1.0).contains(&self.momentum)) {
            return Err(Error::Invalid("learning rates must be positive, the weight decay non-negative and the momentum in [0, 1)".into()));
        }
        if self.max_range.is_some_and(|m| m <= 0.0) {
            return Err(Error::Invalid("max-range must be positive".into()));
        }
        if !(self.temperature > 0.0 && self.range > 0.0 && self.alpha >= 0.0 && self.range_weight >= 0.0) {
            return Err(Error::Invalid("temperature and range must be positive, alpha and range-weight non-negative".into()));
        }
        self.clip().map(drop)
    }

    /// The gradient clipping of `clip_value` or `clip_norm`.
    pub fn clip(&self) -> Result<Clip> {
        Clip::from_thresholds(self.clip_value, self.clip_norm)
    }

    /// The loss a step of this recipe minimises (KD applies when a step has a teacher).
    pub fn loss(&self) -> Loss {
        Loss { kd_alpha: self.alpha, kd_t: self.temperature, range_weight: self.range_weight, range_r: self.range }
    }

    /// The optimiser with this recipe's learning rates, weight decay and clipping.
    pub fn trainer(&self) -> Result<Trainer> {
        let mut trainer = match self.optimizer {
            OptimizerKind::Adam => Trainer::adam(AdamCfg { lr: self.lr, weight_decay: self.weight_decay, ..Default::default() }),
            OptimizerKind::Sgd => Trainer::sgd(self.lr, self.momentum, self.weight_decay),
        };
        trainer.coef_lr = Some(self.coef_lr);
        trainer.clip = self.clip()?;
        Ok(trainer)
    }
}
