//! `heft tune`.

use super::args::*;
use super::gpu;
use clap::Args;
use heft::nn::model::StudentConfig;
use heft::{Error, Result};
use std::path::{Path, PathBuf};

/// Time every variant this adapter runs of the tunable ops of a model's training step (GEMM
/// variants per product shape, convolution forms per layer and pass) and cache the fastest
/// (training then uses it). Prints one row per op.
#[derive(Args)]
pub struct Tune {
    #[command(flatten)]
    pub fresh: FreshModelArgs,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Rounds per shape, each timing every variant once (a variant keeps its minimum).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Time every shape again, even those already in the cache.
    #[arg(long)]
    pub again: bool,
    /// Time each cached choice again against the static choice, and tune the op again where
    /// it now loses by over 10 % (a choice a noisy minute made is not kept for good).
    #[arg(long, conflicts_with = "again")]
    pub recheck: bool,
    /// Cache folder (default: $HEFT_CACHE_DIR, else $XDG_CACHE_HOME/heft, else ~/.cache/heft).
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

impl Tune {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref fresh, batch, reps, again, recheck, ref cache } = *self;
        if reps == 0 {
            return Err(Error::Invalid("--reps must be at least 1".into()));
        }
        let dir = cache.clone().or_else(heft::tune::default_dir).ok_or_else(|| Error::Invalid("no cache folder: set HEFT_CACHE_DIR or pass --cache DIR".into()))?;
        let gpu = gpu(adapter)?;
        let (cfg, student) = (fresh.config(), fresh.student.then(StudentConfig::default));
        let step = heft::tune::step_key(&cfg, student.as_ref(), batch);
        let sites = heft::tune::step_sites(&gpu, cfg, student, batch)?;
        let path = heft::tune::cache_path(&gpu, &dir);
        if again && path.exists() {
            let mut file = heft::tune::load(&path)?.unwrap_or_default();
            file.entries.retain(|e| !sites.contains(&e.site));
            heft::tune::save(&file, &path)?;
        }
        if recheck {
            use heft::tune::Recheck;
            let report = |site: &heft::tune::Site, r: &Recheck| match r {
                Recheck::Replaced { old, old_ms, static_ms, entry } => {
                    eprintln!("\r{site}: {old} {old_ms:.3} ms against the static choice's {static_ms:.3}: tuned again -> {}", entry.choice)
                }
                Recheck::Kept { .. } | Recheck::Static => eprint!("\r{site}: kept        "),
            };
            let checked = heft::tune::recheck(&gpu, &dir, &sites, reps, report)?;
            let replaced = checked.iter().filter(|(_, r)| matches!(r, Recheck::Replaced { .. })).count();
            let compared = checked.iter().filter(|(_, r)| !matches!(r, Recheck::Static)).count();
            eprintln!("\rrechecked {compared} cached choices against the static one ({} are the static one); {replaced} tuned again", checked.len() - compared);
        }
        let announce = |n: usize, _: &Path| eprintln!("timing the variants of {n} ops");
        let (path, timed) = heft::tune::ensure(&gpu, &dir, &step, &sites, reps, announce, |e| eprint!("\r{} -> {}        ", e.site, e.choice))?;
        eprintln!();
        let file = heft::tune::load(&path)?.unwrap_or_default();
        println!("{:<46} {:<10} times (ms, best of {reps} interleaved rounds; fastest first)", "op", "choice");
        for e in file.entries.iter().filter(|e| sites.contains(&e.site)) {
            let times: Vec<String> = e.ms.iter().map(|(v, ms)| format!("{v} {ms:.3}")).collect();
            println!("{:<46} {:<10} {}", e.site.to_string(), e.choice, times.join(", "));
        }
        println!("{} ops ({timed} timed now, the rest from the cache); cache: {}", sites.len(), path.display());
        Ok(())
    }
}
