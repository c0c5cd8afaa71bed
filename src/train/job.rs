//! What a training run starts from, as `train-teacher`, `train-student`, the demo and an
//! experiment's (run, seed) describe it, and the one place that builds the model, tunes the
//! adapter for its step and trains it.

use super::data::Data;
use super::files::{Phase, RunFiles};
use super::run::{train, RunResult};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::checkpoint::{self, LoadMode};
use crate::nn::convert::to_student;
use crate::nn::model::{Model, ModelConfig, StudentConfig};
use crate::recipe::Recipe;
use crate::tune::Tuning;
use std::path::{Path, PathBuf};

/// The ReLU network a run starts from.
#[derive(Clone, Debug)]
pub enum Start {
    /// Freshly initialised with the recipe's seed (then, optionally, torchvision-named weights
    /// loaded into it).
    Fresh { config: ModelConfig, pretrained: Option<PathBuf> },
    /// A trained teacher checkpoint.
    Checkpoint(PathBuf),
}

#[derive(Clone, Debug)]
pub struct StudentJob {
    pub config: StudentConfig,
    /// Distil the start network into the student (KD); off, the student learns from the
    /// labels alone.
    pub distil: bool,
}

/// One training run.
#[derive(Clone, Debug)]
pub struct Job {
    pub start: Start,
    /// Train the HE-friendly student of the start network (its weights copied) instead of it.
    pub student: Option<StudentJob>,
}

impl Job {
    /// What the run trains (and so the names of its files).
    pub fn phase(&self) -> Phase {
        if self.student.is_some() { Phase::Student } else { Phase::Teacher }
    }

    /// The run's files in `dir`.
    pub fn files(&self, dir: &Path) -> RunFiles {
        RunFiles::new(dir, self.phase())
    }

    /// The start network, built on `gpu`.
    fn start(&self, gpu: &Gpu, seed: u64) -> Result<Model> {
        match &self.start {
            Start::Fresh { config, pretrained } => {
                let mut m = Model::teacher(gpu, config.clone(), seed)?;
                if let Some(p) = pretrained {
                    let rep = checkpoint::load_state(&mut m, p, LoadMode::Pretrained)?;
                    eprintln!("pretrained {}: {}", p.display(), rep.describe());
                }
                Ok(m)
            }
            Start::Checkpoint(p) => checkpoint::load(gpu, p),
        }
    }

    /// Build, tune and train into `dir` (skipping a finished run there, resuming a killed one).
    pub fn train(&self, gpu: &Gpu, data: &Data, recipe: &Recipe, tuning: &Tuning, dir: &Path) -> Result<RunResult> {
        let start = self.start(gpu, recipe.seed)?;
        tuning.apply(gpu, start.config.clone(), self.student.as_ref().map(|s| s.config.clone()), recipe.batch)?;
        let files = self.files(dir);
        match &self.student {
            None => {
                let mut teacher = start;
                train(&mut teacher, None, data, recipe, &files)
            }
            Some(s) => {
                let mut student = to_student(&start, &s.config)?;
                train(&mut student, s.distil.then_some(&start), data, recipe, &files)
            }
        }
    }
}
