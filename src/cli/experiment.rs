//! `heft experiment FILE`: train a declared grid (all of it in order, or `--run` single runs for
//! a scheduler), write its results and comparison chart, or emit a Slurm submit script; and
//! `heft reproduce`, which writes the paper's grid as such a file and runs it.

use super::args::Format;
use super::gpu;
use super::train::out_dir;
use clap::{Args, ValueEnum};
use heft::experiment::paper::PaperGrid;
use heft::experiment::{slurm, Experiment, Grid, Run};
use heft::nn::model::Arch;
use heft::tune::Tuning;
use heft::{Error, Result};
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
    pub tune: Tuning,
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
        let grid = Grid { exp: &exp, out: &out, progress: !self.quiet, tuning: &self.tune };
        if self.fresh {
            grid.start_over(&selected)?;
        }
        train(&grid, adapter, &selected)
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
    pub tune: Tuning,
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
        train(&Grid { exp: &exp, out: &out, progress: !self.quiet, tuning: &self.tune }, adapter, &[])
    }
}

/// Train `selected` (none: the whole grid, then its report).
fn train(grid: &Grid, adapter: &Option<String>, selected: &[&Run]) -> Result<()> {
    let trained = grid.train(&|| gpu(adapter), selected);
    if selected.is_empty() {
        report(grid.exp, grid.out, adapter)?;
    }
    trained
}

/// Write results.md, results.json and the comparison chart from the finished (run, seed) pairs.
fn report(exp: &Experiment, out: &Path, adapter: &Option<String>) -> Result<()> {
    print!("{}", heft::experiment::report::write(exp, out, &|| gpu(adapter))?);
    println!("\nresults: {} and results.json", out.join("results.md").display());
    Ok(())
}

fn emit_slurm(exp: &Experiment, file: &Path, out: &Path, tune: &Tuning, gpus: usize) -> Result<()> {
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
