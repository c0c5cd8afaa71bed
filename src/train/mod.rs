//! Training runs for the teacher (class-weighted CE) and the student (CE + α·T²·KD from the
//! frozen teacher, optional range-awareness loss, ReLU→polynomial schedule): what a run starts
//! from (`job`), its folder (`files`), the data, the epoch loop (`run`, `epoch`), evaluation,
//! the run's log and plots, and the epoch state and done marker that let a killed run resume
//! and a finished one be skipped.

mod budget;
mod data;
mod done;
mod epoch;
mod eval;
mod files;
mod fingerprint;
mod guard;
mod job;
mod progress;
mod run;
mod runlog;
mod state;

pub use budget::{depth_of, fit_budget, Choice};
pub use data::{same_classes, Data, Source};
pub use done::trained_config;
pub(crate) use data::class_weights;
pub use eval::{evaluate, ActRange, Eval};
pub use files::{Phase, RunFiles};
pub use guard::Rollback;
pub use job::{Job, Start, StudentJob};
pub use run::{train, Run, RunResult, Started};
pub(crate) use runlog::progress;
