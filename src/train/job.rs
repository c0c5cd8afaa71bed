//! What a training run starts from, as `train-teacher`, `train-student`, the demo and an
//! experiment's (run, seed) describe it, and the one place that builds the model, tunes the
//! adapter for its step and trains it (a student converted from the start network, or a trained
//! student of it, with activations linearised by name or to a depth budget).

use super::budget::fit_budget;
use super::data::Data;
use super::files::{Phase, RunFiles};
use super::run::{train, RunResult};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::checkpoint::{self, LoadMode};
use crate::nn::convert::to_student;
use crate::nn::linearise::linearise;
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
    /// Start from this trained student of the start network (its own config; `config.linear`
    /// is linearised in it) instead of converting the start network.
    pub from: Option<PathBuf>,
    /// Linearise activations (greedily, by validation loss) until the CKKS depth is at most
    /// this, before training (`budget`).
    pub depth_budget: Option<usize>,
}

impl StudentJob {
    /// The method's student of `config`, distilled.
    pub fn method(config: StudentConfig) -> StudentJob {
        StudentJob { config, distil: true, from: None, depth_budget: None }
    }

    /// The student before training: converted from `start` or loaded, with its linearised
    /// activations and depth budget applied.
    fn student(&self, start: &Model, data: &Data, recipe: &Recipe) -> Result<Model> {
        let mut student = match &self.from {
            None => to_student(start, &self.config)?,
            Some(p) => {
                let s = checkpoint::load(start.params()[0].value.gpu(), p)?;
                let teacher_of = ModelConfig { student: None, ..s.config.clone() };
                if s.config.student.is_none() || teacher_of != start.config {
                    return Err(Error::Invalid(format!("{} is not a student of this teacher's network", p.display())));
                }
                s
            }
        };
        linearise(&mut student, &self.config.linear)?;
        if let Some(budget) = self.depth_budget {
            let c = fit_budget(&mut student, budget, data, recipe.batch, recipe.progress)?;
            let names: Vec<&str> = c.linearised.iter().map(|(n, _)| n.as_str()).collect();
            eprintln!("depth budget {budget}: depth {} → {}; linearised {}; x² kept in {}", c.depth_before, c.depth, names.join(", "), c.kept.join(", "));
        }
        Ok(student)
    }
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
                let mut student = s.student(&start, data, recipe)?;
                train(&mut student, s.distil.then_some(&start), data, recipe, &files)
            }
        }
    }
}
