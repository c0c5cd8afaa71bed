//! Where a run stands between epochs, besides its tensors, learning rates and log (all of it
//! goes into the epoch state): epochs done, the best epoch so far, the plateau schedule's
//! count, and the seconds spent.

use crate::optim::Trainer;
use crate::recipe::Recipe;
use crate::report::metrics::Summary;

/// ReduceLROnPlateau on the validation loss: after more than `patience` epochs without a new
/// best, every rate is multiplied by `factor`, never below `floor`.
pub(super) struct Plateau {
    pub best: f64,
    pub bad_epochs: usize,
}

/// The best epoch so far (by validation macro-F1, then loss), from 1; 0 before there is one.
pub(super) struct Best {
    pub f1: f64,
    pub loss: f64,
    pub epoch: usize,
    pub val: Option<Summary>,
}

pub(super) struct Progress {
    pub epochs_done: usize,
    pub best: Best,
    pub plateau: Plateau,
    /// Seconds spent training so far (over every process that worked on the run).
    pub seconds: f64,
}

impl Progress {
    /// A run before its first epoch.
    pub fn new() -> Progress {
        let best = Best { f1: -1.0, loss: f64::INFINITY, epoch: 0, val: None };
        Progress { epochs_done: 0, best, plateau: Plateau { best: f64::INFINITY, bad_epochs: 0 }, seconds: 0.0 }
    }
}

impl Best {
    /// Whether validation `val` (macro-F1, loss) beats the best so far.
    pub fn beaten_by(&self, f1: f64, loss: f64) -> bool {
        f1 > self.f1 || (f1 == self.f1 && loss < self.loss)
    }
}

impl Plateau {
    pub fn update(&mut self, val_loss: f64, recipe: &Recipe, trainer: &mut Trainer) {
        let (factor, patience, floor) = recipe.plateau;
        if val_loss < self.best {
            (self.best, self.bad_epochs) = (val_loss, 0);
            return;
        }
        self.bad_epochs += 1;
        if self.bad_epochs > patience {
            fn cut(lr: f32, factor: f32, floor: f32) -> f32 {
                if lr > floor { (lr * factor).max(floor) } else { lr }
            }
            trainer.lr = cut(trainer.lr, factor, floor);
            trainer.coef_lr = trainer.coef_lr.map(|lr| cut(lr, factor, floor));
            self.bad_epochs = 0;
        }
    }
}
