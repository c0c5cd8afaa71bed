//! `heft experiment FILE`: train a declared grid (all of it in order, or `--run` single runs for
//! a scheduler), write its results and comparison chart, or emit a Slurm submit script; and
//! `heft reproduce`, which writes the paper's grid as such a file and runs it.

use super::args::{DataArgs, Format};
use super::data::load_data;
use super::gpu;
use super::train::{out_dir, train_run, Job, Start, StudentJob};
use super::tune::TuneArgs;
use clap::{Args, ValueEnum};
use heft::experiment::layout::{self, seed_dir};
use heft::experiment::paper::PaperGrid;
use heft::experiment::{results, slurm, Experiment, Run, RunKind, StudentStart};
use heft::nn::model::Arch;
use heft::report::bars::{bar_chart, BarRow};
use heft::train::Data;
use heft::{Error, Gpu, Result};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum)]
pub enum Emit {
    /// A bash script submitting Slurm job arrays (sbatch --parsable, --dependency=afterok).
    Slurm,
}

/// Train a declared grid of runs over seeds; write results.md, results.json and a comparison chart.
#[derive(Args)]
pub struct ExperimentCmd {
    /// The experiment file (TOML; README.md, "Experiments").
    pub file: PathBuf,
    /// Output folder (default: the file's `out`, else runs/<file name without .toml>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Train only this run, every seed (its name, or its index in the file from 0); repeatable.
    /// A student whose teacher has not finished is refused (a scheduler orders them).
    #[arg(long = "run", value_name = "NAME|INDEX")]
    pub runs: Vec<String>,
    /// Only write the results and the chart from the runs finished so far.
    #[arg(long, conflicts_with_all = ["runs", "emit"])]
    pub report: bool,
    /// Write a submit script for a scheduler into the output folder instead of training.
    #[arg(long, value_enum, conflicts_with = "runs")]
    pub emit: Option<Emit>,
    /// Train the selected runs (or all) again from epoch 1, forgetting their finished results
    /// and epoch states (needed after changing a run's settings in the file).
    #[arg(long, conflicts_with_all = ["report", "emit"])]
    pub fresh: bool,
    /// GPUs each Slurm task asks for (`--gres=gpu:N`; 0 asks for none).
    #[arg(long, default_value_t = 1)]
    pub gpus_per_task: usize,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tune: TuneArgs,
}

impl ExperimentCmd {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let exp = heft::experiment::load(&self.file)?;
        let stem = self.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "experiment".into());
        let out = self.out.clone().or_else(|| exp.out.clone()).unwrap_or_else(|| PathBuf::from("runs").join(stem));
        if let Some(Emit::Slurm) = self.emit {
            return emit_slurm(&exp, &self.file, &out, &self.tune, self.gpus_per_task);
        }
        if self.report {
            return report(&exp, &out, adapter);
        }
        let selected = self.runs.iter().map(|s| exp.select(s)).collect::<Result<Vec<_>>>()?;
        if self.fresh {
            let runs: Vec<&Run> = if selected.is_empty() { exp.runs.iter().collect() } else { selected.clone() };
            for r in runs {
                for &seed in &exp.seeds {
                    heft::train::start_over(&seed_dir(&out, &r.name, seed), r.phase())?;
                }
            }
        }
        Grid { exp: &exp, out: &out, quiet: self.quiet, tune: &self.tune }.train(adapter, &selected)
    }
}

/// Write the paper's grid as an experiment file and run it (`heft experiment` on it).
#[derive(Args)]
pub struct Reproduce {
    /// Dataset root (any `--format`).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Folder)]
    pub format: Format,
    /// Input size in pixels.
    #[arg(long, default_value_t = 112)]
    pub input: usize,
    /// Input channels: 1 or 3.
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Seeds per run (1, 2, ... N).
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Epochs per run (a layer-by-layer or smooth run gets at least one more than its activations).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Channel multiplier of the networks (1 = the paper's).
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// AlexNet hidden fully-connected size.
    #[arg(long, default_value_t = 4096)]
    pub hidden: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Networks of the grid.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Arch::Alexnet, Arch::Squeezenet11])]
    pub models: Vec<Arch>,
    /// Output folder, holding experiment.toml (default runs/reproduce-<UTC time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only write the experiment file.
    #[arg(long, alias = "dry-run")]
    pub write_only: bool,
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tune: TuneArgs,
}

impl Reproduce {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let data = std::fs::canonicalize(&self.data).map_err(|_| Error::Invalid(format!("dataset folder {} does not exist", self.data.display())))?;
        if self.seeds == 0 || self.models.is_empty() {
            return Err(Error::Invalid("--seeds and --models need at least one each".into()));
        }
        let grid = PaperGrid {
            data,
            format: self.format,
            input: self.input,
            channels: self.channels,
            seeds: (1..=self.seeds).collect(),
            epochs: self.epochs,
            width: self.width,
            hidden: self.hidden,
            batch: self.batch,
            models: self.models.clone(),
        };
        let out = out_dir(&self.out, "reproduce");
        let file = out.join("experiment.toml");
        let text = grid.toml();
        match std::fs::read_to_string(&file) {
            // the same grid again: finished runs are skipped
            Ok(old) if old == text => {}
            Ok(_) => return Err(Error::Invalid(format!("{} holds another grid; choose another --out", file.display()))),
            Err(_) => {
                std::fs::create_dir_all(&out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
                heft::fsx::write(&file, text.as_bytes())?;
            }
        }
        let exp = heft::experiment::parse(&file, &text)?;
        println!("wrote {} ({} runs × {} seeds)", file.display(), exp.runs.len(), exp.seeds.len());
        if self.write_only {
            return Ok(());
        }
        Grid { exp: &exp, out: &out, quiet: self.quiet, tune: &self.tune }.train(adapter, &[])
    }
}

/// An experiment being trained into `out`.
struct Grid<'a> {
    exp: &'a Experiment,
    out: &'a Path,
    quiet: bool,
    tune: &'a TuneArgs,
}

impl Grid<'_> {
    /// Train `selected` (none: the whole grid, teachers first, then the report). Each (run,
    /// seed) goes through `train_run`, which skips a finished one of the same settings and
    /// resumes a killed one. A (run, seed) that fails, or a student whose teacher has not
    /// finished that seed, is recorded (`failed.txt`) and the others go on; the command then
    /// fails naming them.
    fn train(&self, adapter: &Option<String>, selected: &[&Run]) -> Result<()> {
        let exp = self.exp;
        let whole = selected.is_empty();
        let mut order: Vec<&Run> = if whole { exp.runs.iter().collect() } else { selected.to_vec() };
        order.sort_by_key(|r| r.needs().is_some()); // stable: file order within each group
        let todo: Vec<(&Run, u64)> = order.iter().flat_map(|r| exp.seeds.iter().map(move |&s| (*r, s))).collect();
        let mut finished = 0;
        for &(run, seed) in &todo {
            finished += layout::finished(self.out, run, seed)?.is_some() as usize;
        }
        if finished > 0 {
            println!("{finished} of {} (run, seed) pairs have finished before: each is skipped if its settings are the same (--fresh trains them again)", todo.len());
        }
        let (mut opened, mut failures) = (None, Vec::new());
        for (k, &(run, seed)) in todo.iter().enumerate() {
            layout::record_failure(self.out, &run.name, seed, None)?;
            let result = match run.needs().map(|t| self.teacher_finished(run, t, seed)) {
                Some(Err(e)) => Err(e),
                _ => {
                    // missing data or no GPU would fail every run alike: stop there
                    let (data, gpu) = match opened.take() {
                        Some(o) => o,
                        None => self.open(adapter)?,
                    };
                    let dir = seed_dir(self.out, &run.name, seed);
                    println!("[{}/{}] {} seed {seed} -> {}", k + 1, todo.len(), run.name, dir.display());
                    let recipe = heft::recipe::Recipe { seed, progress: !self.quiet, ..run.recipe.clone() };
                    let result = train_run(&gpu, &data, &self.job(run, seed, &data.train.classes), &recipe, self.tune, &dir);
                    opened = Some((data, gpu));
                    result
                }
            };
            match result {
                Ok(res) => println!("    test accuracy {:.4}, macro-F1 {:.4} (best epoch {}, {:.1} s)", res.test.summary.accuracy, res.test.summary.macro_f1, res.best_epoch, res.seconds),
                Err(e) => {
                    eprintln!("error: {} seed {seed}: {e}", run.name);
                    layout::record_failure(self.out, &run.name, seed, Some(&e.to_string()))?;
                    failures.push(format!("{} seed {seed}", run.name));
                }
            }
        }
        if whole {
            report(exp, self.out, adapter)?;
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(format!("{} of {} (run, seed) pairs failed ({}); why: failed.txt in their folders", failures.len(), todo.len(), failures.join(", "))))
        }
    }

    /// The experiment's data and the GPU, opened once for all its runs.
    fn open(&self, adapter: &Option<String>) -> Result<(Data, Gpu)> {
        let d = &self.exp.data;
        let data = load_data(&DataArgs { data: d.path.clone(), format: d.format, images: d.images.clone(), strict: d.strict, seed: d.split_seed, split_seed: d.split_seed })?;
        Ok((data, gpu(adapter)?))
    }

    /// What training (run, seed) means.
    fn job(&self, run: &Run, seed: u64, classes: &[String]) -> Job {
        let data = &self.exp.data;
        match &run.kind {
            RunKind::Teacher { model, pretrained } => Job { start: Start::Fresh { config: model.config(classes.to_vec(), data), pretrained: pretrained.clone() }, student: None },
            RunKind::Student { from, config, distil } => {
                let start = match from {
                    StudentStart::Scratch { model, .. } => Start::Fresh { config: model.config(classes.to_vec(), data), pretrained: None },
                    StudentStart::Teacher(t) => Start::Checkpoint(layout::checkpoint(self.out, t, seed)),
                };
                Job { start, student: Some(StudentJob { config: config.clone(), distil: *distil }) }
            }
        }
    }

    /// Refuse a student whose teacher run `t` has not finished `seed` (it does not wait: a
    /// scheduler orders them).
    fn teacher_finished(&self, run: &Run, t: &str, seed: u64) -> Result<()> {
        let teacher = self.exp.run(t).ok_or_else(|| Error::Invalid(format!("no teacher run {t}")))?;
        if layout::finished(self.out, teacher, seed)?.is_some() {
            return Ok(());
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

/// Write results.md, results.json and the comparison chart (comparison.png) from the finished (run, seed) pairs.
fn report(exp: &Experiment, out: &Path, adapter: &Option<String>) -> Result<()> {
    let got = (exp.runs.iter())
        .map(|r| exp.seeds.iter().filter_map(|&s| layout::finished(out, r, s).transpose()).collect::<Result<Vec<_>>>())
        .collect::<Result<Vec<_>>>()?;
    let failed: Vec<Vec<(u64, String)>> = (exp.runs.iter()).map(|r| exp.seeds.iter().filter_map(|&s| layout::failure(out, &r.name, s).map(|m| (s, m))).collect()).collect();
    let mut rows = results::rows(exp, &got, &failed);
    he_costs(exp, out, adapter, &mut rows);
    std::fs::create_dir_all(out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
    results::write(out, exp, &rows)?;
    let bars: Vec<BarRow> = rows.iter().map(|r| BarRow { label: r.name.clone(), values: [r.accuracy, r.macro_f1].map(|s| s.map(|s| (s.mean, s.std))).to_vec() }).collect();
    let title = format!("test metrics over {} seed(s), mean ± std", exp.seeds.len());
    if let Err(e) = bar_chart(&out.join("comparison.png"), &title, &["accuracy", "macro-F1"], &bars) {
        eprintln!("warning: the comparison chart was not written: {e}");
    }
    print!("{}", results::markdown(exp, &rows));
    println!("\nresults: {} and results.json", out.join("results.md").display());
    Ok(())
}

/// Fill in each finished student's CKKS cost from its first finished seed's checkpoint (depth
/// depends on the architecture only). Without a GPU to build the models the column stays empty,
/// with a warning: the report itself needs none.
fn he_costs(exp: &Experiment, out: &Path, adapter: &Option<String>, rows: &mut [results::Row]) {
    let students: Vec<(usize, std::path::PathBuf)> = (exp.runs.iter().zip(rows.iter()).enumerate())
        .filter(|(_, (run, row))| matches!(run.kind, RunKind::Student { .. }) && !row.seeds.is_empty())
        .map(|(i, (run, row))| (i, seed_dir(out, &run.name, row.seeds[0].seed).join("student.safetensors")))
        .collect();
    if students.is_empty() {
        return;
    }
    let gpu = match gpu(adapter) {
        Ok(g) => g,
        Err(e) => return eprintln!("warning: no HE depth column ({e})"),
    };
    for (i, path) in students {
        match heft::nn::checkpoint::load(&gpu, &path) {
            Ok(m) => {
                let r = heft::he::report::report(&m, None);
                rows[i].he = Some(results::HeCost { depth: r.depth, ring_dim: r.ckks.ring_dim });
            }
            Err(e) => eprintln!("warning: no HE depth for {}: {e}", rows[i].name),
        }
    }
}

fn emit_slurm(exp: &Experiment, file: &Path, out: &Path, tune: &TuneArgs, gpus: usize) -> Result<()> {
    let abs = |p: &Path| std::path::absolute(p).map_err(|err| Error::Io { path: p.display().to_string(), err });
    // the tasks tune (or not) as this command was asked to
    let mut extra = Vec::new();
    if tune.no_tune {
        extra.push("--no-tune".to_string());
    }
    if let Some(c) = &tune.cache {
        extra.extend(["--cache".to_string(), abs(c)?.display().to_string()]);
    }
    let heft = std::env::current_exe().map_err(|err| Error::Io { path: "the heft executable".into(), err })?;
    std::fs::create_dir_all(out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
    let path = out.join("submit-slurm.sh");
    heft::fsx::write(&path, slurm::script(exp, &heft, &abs(file)?, &abs(out)?, &extra, gpus).as_bytes())?;
    println!("wrote {}; submit with: bash {} [sbatch options, e.g. --partition=gpu]", path.display(), path.display());
    Ok(())
}
