//! `heft experiment`: a declared grid of teacher and student runs over several seeds. The
//! experiment file (`spec`, its keys in `settings`), where each run's files go and whether it
//! finished (`layout`), training the grid run by run (`grid`, through `train::Job`), the
//! results table over seeds (`results`) and the report with its chart (`report`), the paper's
//! grid (`paper`) and the Slurm job-array script (`slurm`).

pub mod grid;
pub mod layout;
pub mod paper;
pub mod report;
pub mod results;
pub mod settings;
pub mod slurm;
pub mod spec;

pub use grid::Grid;
pub use spec::{load, parse, DataSource, Experiment, ModelSpec, Run, RunKind, StudentStart};
