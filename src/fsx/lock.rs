//! The lock on a run folder: one heft process at a time trains into a folder. It is an OS
//! advisory lock (`flock` on Unix, `LockFileEx` on Windows, through `File::try_lock`) on
//! `<folder>/.heft.lock`, which holds the owner's process id. The OS drops the lock when its
//! process ends, however it ends, so a crash leaves no stale lock: the file it leaves behind is
//! locked again by the next run. A second process is refused at once, with the folder, the
//! owner's pid and what to do.

use crate::error::{Error, Result};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

const NAME: &str = ".heft.lock";

/// A run folder held by this process until the value is dropped; dropping it removes the lock
/// file (and the folder, if `acquire` made it and it is still empty).
#[derive(Debug)]
pub struct RunLock {
    /// Held open: closing it releases the lock.
    _file: File,
    path: PathBuf,
    made: Option<PathBuf>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |err| Error::Io { path: path.display().to_string(), err }
}

impl RunLock {
    /// Lock `dir` (created if missing) for this process, or fail naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let made = (!dir.exists()).then(|| dir.to_path_buf());
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(NAME);
        // a holder removes the file as it lets go; one locked after that removal is no one's
        // lock, so lock whichever file is at the path now, a few times at most
        for _ in 0..8 {
            let mut file = File::options().read(true).write(true).create(true).truncate(false).open(&path).map_err(io(&path))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(busy(dir, &mut file)),
                Err(TryLockError::Error(e)) => {
                    return Err(Error::Invalid(format!("{}: cannot lock the run folder ({e}); its file system may not support locks: write the run to a local disk", path.display())))
                }
            }
            if !still_at(&file, &path) {
                continue;
            }
            file.set_len(0).and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes())).map_err(io(&path))?;
            return Ok(RunLock { _file: file, path, made });
        }
        Err(Error::Invalid(format!("{}: could not lock the run folder (its lock file kept being replaced); try again", dir.display())))
    }
}

/// The refusal of a folder `file` (its lock file) is locked by another process.
fn busy(dir: &Path, file: &mut File) -> Error {
    let mut text = String::new();
    let pid = file.rewind().and_then(|_| file.read_to_string(&mut text)).ok().and_then(|_| text.trim().parse::<u32>().ok());
    let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    Error::Invalid(format!(
        "{} is in use by another heft process{who}; two runs in one folder would overwrite each other's files. \
         Wait for it to finish (or stop it), or choose another --out",
        dir.display()
    ))
}

/// Whether `file` is still the file at `path` (not removed by the holder it waited on).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Elsewhere an open file cannot be removed, so the one locked is the one at the path.
#[cfg(not(unix))]
fn still_at(_: &File, _: &Path) -> bool {
    true
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // removed while still locked, so that no other process can lock this file after it
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = &self.made {
            let _ = std::fs::remove_dir(dir); // only succeeds if nothing was written there
        }
    }
}
