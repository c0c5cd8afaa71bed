//! Where the files of a run go, and whether it finished. Each (run, seed) trains into its own
//! folder, `OUT/<run>/seed-<seed>/`, with the files `train` writes there (`teacher.*` or
//! `student.*`: checkpoint, config, metrics, plots, and `train`'s epoch state and done marker,
//! so a killed run resumes and a finished one is skipped). `finished` reads the results of a
//! done (run, seed); `failed.txt` says why its last attempt failed.

use super::results::SeedResult;
use super::spec::Run;
use crate::error::{Error, Result};
use crate::report::metrics::Summary;
use crate::train::RunFiles;
use std::path::{Path, PathBuf};

pub fn seed_dir(out: &Path, run: &str, seed: u64) -> PathBuf {
    out.join(run).join(format!("seed-{seed}"))
}

/// The files of (run, seed).
pub fn run_files(out: &Path, run: &Run, seed: u64) -> RunFiles {
    RunFiles::new(&seed_dir(out, &run.name, seed), run.phase())
}

/// Why (run, seed) failed, recorded by `record_failure`, until it is tried again.
pub fn failure(out: &Path, run: &str, seed: u64) -> Option<String> {
    std::fs::read_to_string(seed_dir(out, run, seed).join("failed.txt")).ok().map(|s| s.trim().to_string())
}

/// Record why (run, seed) failed (`message` None: forget it, before a new try).
pub fn record_failure(out: &Path, run: &str, seed: u64, message: Option<&str>) -> Result<()> {
    let dir = seed_dir(out, run, seed);
    match message {
        Some(m) => {
            std::fs::create_dir_all(&dir).map_err(|err| Error::Io { path: dir.display().to_string(), err })?;
            crate::fsx::write(&dir.join("failed.txt"), format!("{m}\n").as_bytes())
        }
        None => match std::fs::remove_file(dir.join("failed.txt")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: dir.join("failed.txt").display().to_string(), err: e }),
            _ => Ok(()),
        },
    }
}

/// The test results of (run, seed) if it finished (`train`'s done marker is there): the test
/// line `train` writes last in `<phase>_metrics.jsonl`, after the best checkpoint was reloaded
/// and tested.
pub fn finished(out: &Path, run: &Run, seed: u64) -> Result<Option<SeedResult>> {
    let files = run_files(out, run, seed);
    if !files.finished() {
        return Ok(None);
    }
    let path = files.metrics();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::Io { path: path.display().to_string(), err }),
    };
    let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) else { return Ok(None) };
    let Ok(line) = serde_json::from_str::<serde_json::Value>(last) else { return Ok(None) };
    let Some(test) = line.get("test") else { return Ok(None) };
    let summary: Summary = serde_json::from_value(test.clone())
        .map_err(|e| Error::Invalid(format!("{}: the test line is not a heft summary ({e})", path.display())))?;
    let best_epoch = line.get("best_epoch").and_then(|e| e.as_u64()).unwrap_or(0) as usize;
    Ok(Some(SeedResult::of(seed, &summary, best_epoch)))
}
