//! How a training command chooses its GEMM variants and convolution forms: the flags
//! `--no-tune` and `--cache DIR`, and the tuning they mean for a model's training step.

use super::{cached_step_sites, default_dir, ensure, step_key};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::model::{ModelConfig, StudentConfig};
use std::path::{Path, PathBuf};

/// How the GEMM variant of each shape is chosen (see `heft tune`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Tuning {
    /// Do not load or make a tuning cache: every GEMM uses the static choice for this kind of
    /// adapter.
    #[arg(long)]
    pub no_tune: bool,
    /// Tuning cache folder (default: $HEFT_CACHE_DIR, else $XDG_CACHE_HOME/heft, else
    /// ~/.cache/heft).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

impl Tuning {
    /// Use this adapter's cached GEMM choices, first timing the shapes of this model's step
    /// that the cache lacks (one line says so); nothing with --no-tune. A step the cache has
    /// seen is not run again to learn its shapes.
    pub fn apply(&self, gpu: &Gpu, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize) -> Result<()> {
        if self.no_tune {
            return Ok(());
        }
        let Some(dir) = self.cache.clone().or_else(default_dir) else {
            eprintln!("GEMM tuning: no cache folder (set HEFT_CACHE_DIR or pass --cache); using the static choice");
            return Ok(());
        };
        let step = step_key(&cfg, student.as_ref(), batch);
        let sites = cached_step_sites(gpu, &dir, cfg, student, batch)?;
        let announce = |n: usize, path: &Path| eprintln!("tuning {n} new GEMM shapes and convolution passes on this adapter (once; cached in {})", path.display());
        ensure(gpu, &dir, &step, &sites, 3, announce, |_| {})?;
        Ok(())
    }
}
