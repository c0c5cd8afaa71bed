//! Training an experiment's grid: every (run, seed) in order, teachers first, each into its own
//! folder as a resumable training run (`train::Job`). A finished one of the same settings is
//! skipped and a killed one resumes. A (run, seed) that fails, or a student whose teacher has not
//! finished that seed, is recorded (`failed.txt`) and the others go on; the grid then fails
//! naming them. The order and the bookkeeping (`Grid::train_with`) take the trainer as a
//! function, so they are tested without a GPU.

use super::layout::{self, seed_dir};
use super::spec::{Experiment, Run, RunKind, StudentStart};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::recipe::Recipe;
use crate::train::{Data, Job, Phase, RunFiles, RunResult, Start, StudentJob};
use crate::tune::Tuning;
use std::path::{Path, PathBuf};

/// An experiment being trained into `out`.
pub struct Grid<'a> {
    pub exp: &'a Experiment,
    pub out: &'a Path,
    /// Progress bars and per-epoch lines of each run.
    pub progress: bool,
    pub tuning: &'a Tuning,
}

/// Trains one (run, seed): its run, seed, recipe (seed set) and folder.
pub type Trainer<'t> = dyn FnMut(&Run, u64, &Recipe, &Path) -> Result<RunResult> + 't;

impl Grid<'_> {
    /// `selected` (none: every run) over every seed, students after teachers, file order within.
    pub fn order<'r>(&'r self, selected: &[&'r Run]) -> Vec<(&'r Run, u64)> {
        let mut order: Vec<&Run> = if selected.is_empty() { self.exp.runs.iter().collect() } else { selected.to_vec() };
        order.sort_by_key(|r| r.needs().is_some()); // stable: file order within each group
        order.iter().flat_map(|r| self.exp.seeds.iter().map(move |&s| (*r, s))).collect()
    }

    /// Forget the results and epoch states of `selected` (none: every run), every seed.
    pub fn start_over(&self, selected: &[&Run]) -> Result<()> {
        for (run, seed) in self.order(selected) {
            layout::run_files(self.out, run, seed).start_over()?;
        }
        Ok(())
    }

    /// Train `selected` on the GPU `open` gives (opened with the data at the first run that
    /// needs them: missing data or no GPU fail every run alike, so they stop the grid).
    pub fn train(&self, open: &dyn Fn() -> Result<Gpu>, selected: &[&Run]) -> Result<()> {
        let mut opened: Option<(Data, Gpu)> = None;
        let mut trainer = |run: &Run, seed: u64, recipe: &Recipe, dir: &Path| -> Result<RunResult> {
            let (data, gpu) = match opened.take() {
                Some(o) => o,
                None => (Data::open(&self.exp.data.source)?, open()?),
            };
            let result = self.job(run, seed, &data.train.classes).train(&gpu, &data, recipe, self.tuning, dir);
            opened = Some((data, gpu));
            result
        };
        self.train_with(selected, &mut trainer)
    }

    /// The grid's order and bookkeeping around `trainer`.
    pub fn train_with(&self, selected: &[&Run], trainer: &mut Trainer) -> Result<()> {
        let todo = self.order(selected);
        let mut finished = 0;
        for &(run, seed) in &todo {
            finished += layout::finished(self.out, run, seed)?.is_some() as usize;
        }
        if finished > 0 {
            println!("{finished} of {} (run, seed) pairs have finished before: each is skipped if its settings are the same (--fresh trains them again)", todo.len());
        }
        let mut failures = Vec::new();
        for (k, &(run, seed)) in todo.iter().enumerate() {
            layout::record_failure(self.out, &run.name, seed, None)?;
            let dir = seed_dir(self.out, &run.name, seed);
            let result = self.teacher_finished(run, seed).and_then(|()| {
                println!("[{}/{}] {} seed {seed} -> {}", k + 1, todo.len(), run.name, dir.display());
                trainer(run, seed, &Recipe { seed, progress: self.progress, ..run.recipe.clone() }, &dir)
            });
            match result {
                Ok(res) => println!("    test accuracy {:.4}, macro-F1 {:.4} (best epoch {}, {:.1} s)", res.test.summary.accuracy, res.test.summary.macro_f1, res.best_epoch, res.seconds),
                Err(e) => {
                    eprintln!("error: {} seed {seed}: {e}", run.name);
                    layout::record_failure(self.out, &run.name, seed, Some(&e.to_string()))?;
                    failures.push(format!("{} seed {seed}", run.name));
                }
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        Err(Error::Invalid(format!("{} of {} (run, seed) pairs failed ({}); why: failed.txt in their folders", failures.len(), todo.len(), failures.join(", "))))
    }

    /// What training (run, seed) means.
    pub fn job(&self, run: &Run, seed: u64, classes: &[String]) -> Job {
        let data = &self.exp.data;
        let fresh = |model: &super::ModelSpec, pretrained: Option<PathBuf>| Start::Fresh { config: model.config(classes.to_vec(), data), pretrained };
        match &run.kind {
            RunKind::Teacher { model, pretrained } => Job { start: fresh(model, pretrained.clone()), student: None },
            RunKind::Student { from, config, distil } => {
                let start = match from {
                    StudentStart::Scratch { model, .. } => fresh(model, None),
                    StudentStart::Teacher(t) => Start::Checkpoint(RunFiles::new(&seed_dir(self.out, t, seed), Phase::Teacher).checkpoint()),
                };
                Job { start, student: Some(StudentJob { distil: *distil, ..StudentJob::method(config.clone()) }) }
            }
        }
    }

    /// Refuse a student whose teacher run has not finished `seed` (it does not wait: a
    /// scheduler orders them), or, unless the student has finished, whose teacher checkpoint of
    /// that seed is gone (a results folder kept without its checkpoints).
    fn teacher_finished(&self, run: &Run, seed: u64) -> Result<()> {
        let Some(t) = run.needs() else { return Ok(()) };
        let teacher = self.exp.run(t).ok_or_else(|| Error::Invalid(format!("no teacher run {t}")))?;
        if layout::finished(self.out, teacher, seed)?.is_some() {
            let checkpoint = layout::run_files(self.out, teacher, seed).checkpoint();
            if checkpoint.exists() || layout::run_files(self.out, run, seed).finished() {
                return Ok(());
            }
            return Err(Error::Invalid(format!(
                "run {} starts from teacher run {t} seed {seed}, which finished but whose checkpoint {} is missing; \
                 to train that seed again, move {} elsewhere (it keeps the old results) and run `heft experiment {} --run {t}`",
                run.name,
                checkpoint.display(),
                seed_dir(self.out, t, seed).display(),
                self.exp.file.display()
            )));
        }
        Err(Error::Invalid(format!(
            "run {} distils teacher run {t}, which has not finished seed {seed} in {} (no test results in {}); \
             train it first (`heft experiment {} --run {t}`), or let a scheduler order them (`--emit slurm`)",
            run.name,
            self.out.display(),
            seed_dir(self.out, t, seed).display(),
            self.exp.file.display()
        )))
    }
}
