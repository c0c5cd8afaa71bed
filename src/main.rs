//! The `heft` command line.

use clap::{Parser, Subcommand};
use heft::{AdapterChoice, Error, Gpu, Result};

#[derive(Parser)]
#[command(name = "heft", version, about = "HE-Friendly Training: GPU-native training of networks that run under CKKS")]
struct Cli {
    /// Use the adapter whose name contains this text (case-insensitive); default: the
    /// high-performance adapter. WGPU_ADAPTER_NAME and WGPU_BACKEND are honoured too.
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the GPU adapters wgpu can see.
    Adapters,
    /// GFLOP/s of the GEMM (1024³) and of conv2d forward/backward at AlexNet's conv1–conv5 shapes.
    Bench {
        /// Timed runs per kernel (the median is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Batch size of the convolution benchmarks.
        #[arg(long, default_value_t = 8)]
        batch: usize,
    },
}

fn gpu(cli: &Cli) -> Result<Gpu> {
    Gpu::new(&AdapterChoice { name: cli.adapter.clone(), low_power: false })
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Adapters => {
            let all = heft::gpu::list_adapters();
            if all.is_empty() {
                return Err(Error::NoAdapter("wgpu found no adapter".into()));
            }
            for a in all {
                println!("{} ({:?}, {:?}, driver {} {})", a.name, a.backend, a.device_type, a.driver, a.driver_info);
            }
        }
        Cmd::Bench { reps, batch } => {
            if reps == 0 || batch == 0 {
                return Err(Error::Invalid("--reps and --batch must be at least 1".into()));
            }
            let gpu = gpu(&cli)?;
            println!("adapter: {}", gpu.describe());
            heft::bench::run(&gpu, reps, batch, |r| {
                println!("{:<48} {:>9.1} ms {:>8.2} GFLOP/s", r.name, r.median_ms, r.gflops())
            })?;
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
