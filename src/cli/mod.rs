//! The `heft` command line: one file per group of commands (`train`, `evaluate`, `check`, `he`,
//! `perf`, `tune`, `experiment`), the arguments they share (`args`) and how they open datasets (`data`). Each
//! command is a clap `Args` struct with a `run`.

mod args;
mod check;
mod data;
mod evaluate;
mod experiment;
mod he;
mod parity;
mod perf;
mod train;
mod tune;

use clap::{Parser, Subcommand};
use heft::{AdapterChoice, Gpu, Result};

#[derive(Parser)]
#[command(name = "heft", version, about = "HE-Friendly Training: GPU-native training of networks that run under CKKS")]
pub struct Cli {
    /// Use the adapter whose name contains this text (case-insensitive); default: the
    /// high-performance adapter. WGPU_ADAPTER_NAME and WGPU_BACKEND are honoured too.
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Synthesise a dataset, train a small teacher, distil its HE-friendly student, compare.
    Demo(train::Demo),
    /// Write a synthetic chest-scan-like dataset (folder per class, train/val/test).
    Synth(train::Synth),
    /// Train the ReLU teacher.
    TrainTeacher(train::TrainTeacher),
    /// Convert a teacher into its HE-friendly student and distil the teacher into it.
    TrainStudent(train::TrainStudent),
    /// Train a declared grid of teacher and student runs over seeds (an experiment file);
    /// one run of it with --run; results.md/json; a Slurm submit script with --emit slurm.
    Experiment(experiment::ExperimentCmd),
    /// Write the paper's grid (teachers, the method, its ablations, the from-scratch baseline)
    /// as an experiment file and run it.
    Reproduce(experiment::Reproduce),
    /// Evaluate a checkpoint: accuracy, per-class precision/recall/F1, confusion matrix.
    Eval(evaluate::Eval),
    /// Predict the class of every image: one row per image with its path, predicted class and
    /// the probability of each class; a summary (and unreadable files) on the console.
    Predict(evaluate::Predict),
    /// Layers, output shapes, parameters, FLOPs and activation count of a model.
    Summary(evaluate::Summary),
    /// Compare heft with PyTorch golden files (and the CPU reference on random shapes) on this
    /// adapter: a table of errors and tolerances, then `N passed, M failed`.
    Check(check::Check),
    /// Train heft and its PyTorch twin from the same weights on the same batches of your data
    /// and compare the loss of every step: where the two training curves part, and by how much.
    Parity(parity::ParityCmd),
    /// Can this student run under CKKS? HE-unfriendly layers, multiplicative depth per layer,
    /// activation input ranges over data, and CKKS parameters for 128-bit security.
    HeReport(he::HeReport),
    /// Write the student as ONNX (Conv, Gemm, Mul, Add, AveragePool, Flatten, Concat; batch norm
    /// folded, polynomials as Mul/Add) for an HE runtime.
    Export(he::Export),
    /// GPU time per kernel of one training step (timestamp queries) on random data: a table of
    /// kernels with calls and milliseconds per step, longest first.
    Profile(perf::Profile),
    /// Time every GEMM variant this adapter runs on the GEMM shapes of a model's training step
    /// and cache the fastest per shape (training then uses it). Prints one row per shape.
    Tune(tune::Tune),
    /// List the GPU adapters wgpu can see.
    Adapters,
    /// GFLOP/s of every GEMM variant (1024³) and of conv2d forward/backward at AlexNet's
    /// conv1–conv5 shapes; with --steps, whole training steps (and --compare: beside PyTorch).
    Bench(perf::Bench),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Demo(c) => c.run(&cli.adapter),
        Cmd::Synth(c) => c.run(),
        Cmd::TrainTeacher(c) => c.run(&cli.adapter),
        Cmd::TrainStudent(c) => c.run(&cli.adapter),
        Cmd::Experiment(c) => c.run(&cli.adapter),
        Cmd::Parity(c) => c.run(&cli.adapter),
        Cmd::Reproduce(c) => c.run(&cli.adapter),
        Cmd::Eval(c) => c.run(&cli.adapter),
        Cmd::Predict(c) => c.run(&cli.adapter),
        Cmd::Summary(c) => c.run(&cli.adapter),
        Cmd::Check(c) => c.run(&cli.adapter),
        Cmd::HeReport(c) => c.run(&cli.adapter),
        Cmd::Export(c) => c.run(&cli.adapter),
        Cmd::Profile(c) => c.run(&cli.adapter),
        Cmd::Tune(c) => c.run(&cli.adapter),
        Cmd::Adapters => perf::adapters(),
        Cmd::Bench(c) => c.run(&cli.adapter),
    }
}

/// The GPU a command runs on (named on stderr).
fn gpu(adapter: &Option<String>) -> Result<Gpu> {
    open_gpu(adapter, false)
}

/// `gpu`, opened for timestamp profiling when `profile` is set.
fn open_gpu(adapter: &Option<String>, profile: bool) -> Result<Gpu> {
    let gpu = Gpu::new(&AdapterChoice { name: adapter.clone(), profile, ..Default::default() })?;
    eprintln!("adapter: {}", gpu.describe());
    Ok(gpu)
}
