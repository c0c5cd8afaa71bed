//! `heft check`: heft against PyTorch golden files and the CPU reference on this adapter.

use super::gpu;
use clap::Args;
use heft::{Error, Result};
use std::path::PathBuf;

/// Compare heft with PyTorch golden files (and the CPU reference on random shapes) on this
/// adapter: a table of errors and tolerances, then `N passed, M failed`.
#[derive(Args)]
pub struct Check {
    /// Also compare against the CPU reference on N rounds of fresh random shapes.
    #[arg(long, default_value_t = 0)]
    pub random: usize,
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
    /// Compare a whole model dumped from PyTorch (format: data/reference/README.md) instead
    /// of the shipped golden files.
    #[arg(long)]
    pub against: Option<PathBuf>,
    /// Also write the table as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl Check {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { random, seed, ref against, ref json } = *self;
        let gpu = gpu(adapter)?;
        let mut rows = match against {
            Some(p) => heft::check::model(&gpu, &p.display().to_string(), &heft::check::Golden::open(p)?)?,
            None => heft::check::golden(&gpu)?,
        };
        if random > 0 {
            rows.extend(heft::check::random(&gpu, random, seed)?);
        }
        println!("{:<16} {:<44} {:>11} {:>11} {:>18} result", "kernel", "case", "max abs", "max rel", "tolerance");
        for r in rows.iter().filter(|r| r.checked) {
            println!(
                "{:<16} {:<44} {:>11.3e} {:>11.3e} {:>18} {}",
                r.kernel,
                r.case,
                r.max_abs,
                r.max_rel,
                format!("{:.0e}+{:.0e}|ref|", r.atol, r.rtol),
                match (r.pass, r.info) {
                    (true, _) => "pass",
                    (false, true) => "off (information only)",
                    (false, false) => "FAIL",
                }
            );
        }
        for r in rows.iter().filter(|r| !r.checked) {
            println!("{:<16} {:<44} not checked", r.kernel, r.case);
        }
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(&rows).map_err(|e| Error::Invalid(e.to_string()))?;
            heft::fsx::write(path, text.as_bytes())?;
        }
        let failed = heft::check::failures(&rows).len();
        if let (Some(_), Some(first)) = (against, heft::check::first_failure(&rows)) {
            println!("first divergence: {} {}", first.kernel, first.case);
        }
        let unchecked = rows.iter().filter(|r| !r.checked).count();
        let extra = if unchecked > 0 { format!(", {unchecked} not checked (listed above)") } else { String::new() };
        println!("{} passed, {failed} failed{extra}", rows.len() - failed - unchecked);
        if failed > 0 {
            return Err(Error::Invalid(format!("{failed} comparisons failed on {}", gpu.describe())));
        }
        Ok(())
    }
}

