//! The files of a training run in its folder, every name spelled here and nowhere else: a phase
//! (`teacher` or `student`) writes `<phase>.safetensors` (best checkpoint, with `<phase>.json`
//! beside it), `<phase>_metrics.jsonl`, `<phase>_{loss,accuracy,confusion}.png`, its epoch
//! state `<phase>_state.safetensors` and, last, `<phase>_done.json`. A folder may hold one run
//! of each phase (the demo trains a teacher and its student side by side).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What a run trains: the ReLU teacher or the HE-friendly student.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Teacher,
    Student,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Teacher => "teacher",
            Phase::Student => "student",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The folder of one run of `phase`.
#[derive(Clone, Debug)]
pub struct RunFiles {
    pub dir: PathBuf,
    pub phase: Phase,
}

impl RunFiles {
    pub fn new(dir: &Path, phase: Phase) -> RunFiles {
        RunFiles { dir: dir.to_path_buf(), phase }
    }

    fn file(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", self.phase))
    }

    /// The best checkpoint (its config is `checkpoint::config_path` of it).
    pub fn checkpoint(&self) -> PathBuf {
        self.file(".safetensors")
    }

    /// One JSON line per epoch, rollbacks, and the test line last.
    pub fn metrics(&self) -> PathBuf {
        self.file("_metrics.jsonl")
    }

    /// A plot: `loss`, `accuracy` or `confusion`.
    pub fn plot(&self, what: &str) -> PathBuf {
        self.file(&format!("_{what}.png"))
    }

    /// The epoch state, written after every epoch until the run is done.
    pub fn state(&self) -> PathBuf {
        self.file("_state.safetensors")
    }

    /// The done marker, written last.
    pub fn done(&self) -> PathBuf {
        self.file("_done.json")
    }

    /// Whether the run finished (its done marker is there).
    pub fn finished(&self) -> bool {
        self.done().exists()
    }

    /// Whether the folder holds a finished run or the epoch state of one (which `train` skips
    /// or resumes).
    pub fn holds_run(&self) -> bool {
        self.finished() || self.state().exists()
    }

    /// Forget the finished run or epoch state (`--fresh`): the next run starts at epoch 1 and
    /// replaces the checkpoint and metrics log as it goes. Refused while another process
    /// trains in the folder.
    pub fn start_over(&self) -> Result<()> {
        let _lock = crate::fsx::RunLock::acquire(&self.dir)?; // never under a run still training there
        remove(&self.state())?;
        remove(&self.done())
    }

    /// Ready the folder for a run. With `fresh`, forget what an earlier run left there.
    /// Without, a finished run or an epoch state is `train`'s to skip or resume, and a
    /// checkpoint or metrics log without either (a run stopped in its first epoch, or one of
    /// an older heft) is refused rather than replaced.
    pub fn prepare(&self, fresh: bool) -> Result<()> {
        if fresh {
            return self.start_over();
        }
        if self.holds_run() {
            return Ok(());
        }
        for path in [self.checkpoint(), self.metrics()] {
            if path.exists() {
                return Err(Error::Invalid(format!("{} already exists; choose another --out or pass --fresh to replace it", path.display())));
            }
        }
        Ok(())
    }
}

pub(super) fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: path.display().to_string(), err: e }),
        _ => Ok(()),
    }
}
