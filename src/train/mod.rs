//! Training runs for the teacher (class-weighted CE) and the student (CE + α·T²·KD from the
//! frozen teacher, optional range-awareness loss, ReLU→polynomial schedule): the data of a run,
//! the epoch loop, evaluation, and the run's log and plots.

mod data;
mod eval;
mod fit;
mod guard;
mod runlog;

pub use data::Data;
pub use eval::{evaluate, ActRange, Eval};
pub use fit::{train, RunResult};
pub use guard::Rollback;
pub(crate) use runlog::progress;
