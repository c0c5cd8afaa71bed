//! The training recipe: every hyper-parameter of a run (defaults: the paper's, from IBM's
//! reference code, except the batch), and what a step and the optimiser are built from it.

use crate::error::{Error, Result};
use crate::nn::convert::Schedule;
use crate::ops::optim::AdamCfg;
use crate::optim::{Clip, Trainer};
use crate::step::Loss;
use serde::Serialize;

/// Hyper-parameters of one training run. Defaults: Adam lr 1e-3, weight decay 5e-4, 2e-4 for
/// the activation coefficients, KD with T = 10 and α = 0.1 (Baruch et al.), except the batch:
/// 32 instead of 200, for small GPUs and lavapipe.
#[derive(Clone, Debug, Serialize)]
pub struct Recipe {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub weight_decay: f32,
    /// Learning rate of the activation coefficients (student).
    pub coef_lr: f32,
    #[serde(skip)]
    pub clip: Clip,
    pub seed: u64,
    /// Plateau schedule on the validation loss: factor, patience (epochs), floor.
    pub plateau: (f32, usize, f32),
    pub augment: bool,
    /// Weight CE by inverse class frequency (of the training set).
    pub class_weights: bool,
    /// Distillation weight α and temperature T (student).
    pub kd_alpha: f32,
    pub kd_t: f32,
    /// Range-awareness weight (0: off) and bound R (student).
    pub range_weight: f32,
    pub range_r: f32,
    #[serde(skip)]
    pub schedule: Schedule,
    /// Rollbacks of a diverging run (non-finite loss, or a student's activation input beyond
    /// `max_range`) before it stops; each halves the learning rates.
    pub max_rollbacks: usize,
    /// Bound on a student's activation inputs (None: 100·`range_r`).
    pub max_range: Option<f32>,
    /// Never stop on divergence: roll back as often as needed.
    pub continue_with_nans: bool,
    pub progress: bool,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            epochs: 10,
            batch: 32,
            lr: 1e-3,
            weight_decay: 5e-4,
            coef_lr: 2e-4,
            clip: Clip::None,
            seed: 123,
            plateau: (0.5, 2, 1e-5),
            augment: true,
            class_weights: true,
            kd_alpha: 0.1,
            kd_t: 10.0,
            range_weight: 0.0,
            range_r: 10.0,
            schedule: Schedule::AllAtOnce,
            max_rollbacks: 3,
            max_range: None,
            continue_with_nans: false,
            progress: true,
        }
    }
}

impl Recipe {
    /// Refuse settings no run can use (the messages name the command-line flags, which share
    /// their names with an experiment file's keys).
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 || self.batch == 0 {
            return Err(Error::Invalid("epochs and batch must be at least 1".into()));
        }
        if !(self.lr > 0.0 && self.coef_lr >= 0.0 && self.weight_decay >= 0.0) {
            return Err(Error::Invalid("learning rates must be positive and the weight decay non-negative".into()));
        }
        if self.max_range.is_some_and(|m| m.is_nan() || m <= 0.0) {
            return Err(Error::Invalid("max-range must be positive".into()));
        }
        if !(self.kd_t > 0.0 && self.range_r > 0.0 && self.kd_alpha >= 0.0 && self.range_weight >= 0.0) {
            return Err(Error::Invalid("temperature and range must be positive, alpha and range-weight non-negative".into()));
        }
        Ok(())
    }

    /// The loss a step of this recipe minimises (KD applies when a step has a teacher).
    pub fn loss(&self) -> Loss {
        Loss { kd_alpha: self.kd_alpha, kd_t: self.kd_t, range_weight: self.range_weight, range_r: self.range_r }
    }

    /// Adam with this recipe's learning rates, weight decay and clipping.
    pub fn trainer(&self) -> Trainer {
        let mut trainer = Trainer::adam(AdamCfg { lr: self.lr, weight_decay: self.weight_decay, ..Default::default() });
        trainer.coef_lr = Some(self.coef_lr);
        trainer.clip = self.clip;
        trainer
    }
}
