//! Training runs for the teacher (class-weighted CE) and the student (CE + α·T²·KD from the
//! frozen teacher, optional range-awareness loss, ReLU→polynomial schedule): the data of a run,
//! the epoch loop, evaluation, the run's log and plots, and the epoch state and done marker that
//! let a killed run resume and a finished one be skipped.

mod data;
mod done;
mod eval;
mod fingerprint;
mod fit;
mod guard;
mod runlog;
mod state;

pub use data::Data;
pub(crate) use data::class_weights;
pub use done::{finished, holds_run, start_over};
pub use eval::{evaluate, ActRange, Eval};
pub use fit::{train, RunResult};
pub use guard::Rollback;
pub(crate) use runlog::progress;
