//! Speed: `profile` (GPU time per kernel of a step), `bench` (kernels, or steps beside PyTorch), `adapters`.

use super::args::*;
use heft::tune::Tuning;
use super::{gpu, open_gpu};
use clap::Args;
use heft::bench::steps::{Set, StepCase};
use heft::nn::model::StudentConfig;
use heft::{Error, Gpu, Result};
use std::path::{Path, PathBuf};

/// GPU time per kernel of one training step (timestamp queries) on random data: a table of
/// kernels with calls and milliseconds per step, longest first.
#[derive(Args)]
pub struct Profile {
    #[command(flatten)]
    pub fresh: FreshModelArgs,
    /// Images per step (random data).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Profiled steps (after one warm-up step); figures are per-step means.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write every profiled dispatch as a Chrome/Perfetto trace (open it in
    /// ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    #[command(flatten)]
    pub tune: Tuning,
}

impl Profile {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref fresh, batch, steps, json, ref trace, ref tune } = *self;
        if let Some(t) = trace.as_ref().filter(|t| t.exists()) {
            return Err(Error::Invalid(format!("{} already exists; choose another --trace path", t.display())));
        }
        let gpu = open_gpu(adapter, true)?;
        let s = fresh.student.then(StudentConfig::default);
        tune.apply(&gpu, fresh.config(), s.clone(), batch)?;
        let p = heft::profile::run(&gpu, fresh.config(), s, batch, steps, 123)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&p).map_err(|e| Error::Invalid(e.to_string()))?);
        } else {
            print!("{}", heft::profile::format(&p));
        }
        if let Some(path) = trace {
            let json = heft::gpu::chrome_trace(&p.trace, &gpu.describe()).to_string();
            heft::fsx::write(path, json.as_bytes())?;
            eprintln!("wrote {} ({} dispatches; open it in ui.perfetto.dev)", path.display(), p.trace.len());
        }
        Ok(())
    }
}

/// GFLOP/s of every GEMM variant (1024³) and of conv2d forward/backward at AlexNet's
/// conv1–conv5 shapes; with --steps, whole training steps (and --compare: beside PyTorch).
#[derive(Args)]
pub struct Bench {
    /// Timed runs per kernel or step (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Batch size of the convolution benchmarks.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Size n of the n×n×n product the GEMM variants are timed on (4096 on a real GPU).
    #[arg(long, default_value_t = 1024)]
    pub gemm: usize,
    /// Time training steps of AlexNet-FHE (64/112 px, width 0.5/1.0) and SqueezeNet 1.1
    /// (112 px), teacher and student, instead of kernels.
    #[arg(long)]
    pub steps: bool,
    /// With --steps: only the AlexNet x0.5 64 px pair.
    #[arg(long)]
    pub quick: bool,
    /// With --steps: the real-GPU pair instead, AlexNet-FHE at 224 px (width 1, hidden 4096,
    /// 3 channels) with batch 128, teacher and student.
    #[arg(long, conflicts_with = "quick")]
    pub large: bool,
    /// With --steps: time the same steps in PyTorch on this machine
    /// (benches/peers/torch_step.py) and print heft/PyTorch ratios.
    #[arg(long)]
    pub compare: bool,
    /// Python interpreter with torch, for --compare.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// With --steps: also time the steps in Burn with this `burn-step` binary (built from
    /// benches/peers/burn with `cargo build --release`) and print heft/Burn ratios.
    #[arg(long, value_name = "BURN_STEP")]
    pub burn: Option<PathBuf>,
    #[command(flatten)]
    pub tune: Tuning,
}

impl Bench {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { reps, batch, gemm, steps, quick, large, compare, ref python, ref burn, ref tune } = *self;
        if reps == 0 || batch == 0 || gemm == 0 {
            return Err(Error::Invalid("--reps, --batch and --gemm must be at least 1".into()));
        }
        if (quick || large || compare || burn.is_some()) && !steps {
            return Err(Error::Invalid("--quick, --large, --compare and --burn go with --steps".into()));
        }
        // before heft's own steps, which take minutes
        if let Some(path) = burn.as_ref().filter(|p| !p.is_file()) {
            return Err(Error::Invalid(format!("{} is not a file; {}", path.display(), heft::bench::steps::BURN_HINT)));
        }
        let gpu = gpu(adapter)?;
        if steps {
            let cases = heft::bench::steps::cases(if large { Set::Large } else if quick { Set::Quick } else { Set::All });
            bench_steps(&gpu, reps, &cases, compare.then_some(python.as_str()), burn.as_deref(), tune)?;
        } else {
            heft::bench::run(&gpu, reps, batch, gemm, |r| println!("{:<48} {:>9.1} ms {:>8.2} GFLOP/s", r.name, r.median_ms, r.gflops()))?;
        }
        Ok(())
    }
}

/// `heft bench --steps`: heft's step times, then PyTorch's and/or Burn's for the same steps and
/// the ratios.
pub fn bench_steps(gpu: &Gpu, reps: usize, cases: &[StepCase], python: Option<&str>, burn: Option<&Path>, tune: &Tuning) -> Result<()> {
    use heft::bench::steps;
    let mut heft_ms = Vec::new();
    for c in cases {
        tune.apply(gpu, c.config(), c.student_config(), c.batch)?;
        let (ms, dispatches) = steps::heft_ms(gpu, c, reps)?;
        eprintln!("{:<52} heft {ms:>9.1} ms, {dispatches} dispatches", c.name());
        heft_ms.push((ms, dispatches));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // (column name, device line label, results) per peer
    let mut peers = Vec::new();
    if let Some(py) = python {
        peers.push(("torch", "PyTorch", steps::torch_ms(py, cases, reps, threads)?));
    }
    if let Some(path) = burn {
        peers.push(("burn", "Burn", steps::burn_ms(path, cases, reps)?));
    }
    println!("heft on {}", gpu.describe());
    for (_, label, results) in &peers {
        if let Some((_, device)) = results.first() {
            println!("{label}: {device}");
        }
    }
    let mut header = format!("{:<52} {:>10} {:>10}", "training step (median)", "heft ms", "dispatches");
    for (col, ..) in &peers {
        header += &format!(" {:>10} {:>12}", format!("{col} ms"), format!("heft/{col}"));
    }
    println!("{header}");
    for (i, c) in cases.iter().enumerate() {
        let mut line = format!("{:<52} {:>10.1} {:>10}", c.name(), heft_ms[i].0, heft_ms[i].1);
        for (_, _, results) in &peers {
            let ms = results[i].0;
            line += &format!(" {ms:>10.1} {:>11.1}x", heft_ms[i].0 / ms);
        }
        println!("{line}");
    }
    Ok(())
}

/// `heft adapters`: every adapter wgpu sees, with its backend, type and driver.
pub fn adapters() -> Result<()> {
    let all = heft::gpu::list_adapters();
    if all.is_empty() {
        return Err(Error::NoAdapter("wgpu found no adapter".into()));
    }
    for a in all {
        println!("{} ({:?}, {:?}, driver {} {})", a.name, a.backend, a.device_type, a.driver, a.driver_info);
    }
    Ok(())
}
