//! `cargo bench`: GFLOP/s of the GEMM and of conv2d at AlexNet shapes on the default adapter
//! (pick another with WGPU_ADAPTER_NAME). The same code runs as `heft bench`.

fn main() {
    let gpu = match heft::Gpu::new(&heft::AdapterChoice::default()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("adapter: {}", gpu.describe());
    let reps = std::env::var("HEFT_BENCH_REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let result = heft::bench::run(&gpu, reps, 8, 1024, |r| {
        println!("{:<48} {:>9.1} ms {:>8.2} GFLOP/s", r.name, r.median_ms, r.gflops())
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
