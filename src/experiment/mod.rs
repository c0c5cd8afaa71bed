//! `heft experiment`: a declared grid of teacher and student runs over several seeds. The
//! experiment file (`spec`, its keys in `settings`), where each run's files go and whether it
//! finished (`layout`), the results table over seeds (`results`), the paper's grid
//! (`paper`) and the Slurm job-array script (`slurm`). Training itself is the command line's
//! shared entry point; nothing here touches the GPU.

pub mod layout;
pub mod paper;
pub mod results;
pub mod settings;
pub mod slurm;
pub mod spec;

pub use spec::{load, parse, DataSource, Experiment, ModelSpec, Run, RunKind, StudentStart};
