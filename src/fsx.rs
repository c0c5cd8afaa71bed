//! Atomic file writes, the one way heft writes a result file: the bytes go to a temporary file
//! in the target's folder (`.<name>.heft-<pid>-<n>.tmp`), are fsynced, and the temporary file is
//! renamed onto the target (then the folder is fsynced, where the platform allows). A reader, or
//! a crash at any moment, sees the previous file whole or the new file whole, never a mix; a
//! failed write removes its temporary file and leaves the previous file untouched.
//! `RunLock` (`fsx/lock.rs`) keeps a second process out of a run folder.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

mod lock;
pub use lock::RunLock;

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |err| Error::Io { path: path.display().to_string(), err }
}

/// Write `bytes` to `path`, replacing the file there (if any) atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let (file, tmp) = create_temp(path)?;
    fill(file, &tmp, path, bytes)?;
    commit(&tmp, path)
}

/// Write `bytes` to `path` atomically, but never replace a file there: one that exists, or
/// appears while writing, is an error naming it and is left as it was.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let (file, tmp) = create_temp(path)?;
    fill(file, &tmp, path, bytes)?;
    // a hard link fails if the name is taken, where a rename would replace it
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp); // this write's own temporary file
    match linked {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::Invalid(format!("{} already exists; choose another path (it was not replaced)", path.display())))
        }
        Err(e) => Err(io(path)(e)),
    }
}

/// A new, empty temporary file beside `path` and its name. The caller fills it and calls
/// `commit`, or removes it.
pub fn create_temp(path: &Path) -> Result<(File, PathBuf)> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().ok_or_else(|| Error::Invalid(format!("{} is not a file name; pass a path to a file", path.display())))?;
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{}.heft-{}-{n}.tmp", name.to_string_lossy(), std::process::id()));
    let file = File::options().write(true).create_new(true).open(&tmp).map_err(io(path))?;
    Ok((file, tmp))
}

/// Rename the (fsynced) temporary file `tmp` onto `path`; on failure `tmp` is removed.
pub fn commit(tmp: &Path, path: &Path) -> Result<()> {
    if let Err(e) = std::fs::rename(tmp, path) {
        let _ = std::fs::remove_file(tmp); // this write's own temporary file
        return Err(io(path)(e));
    }
    sync_dir(path)
}

/// Write and fsync `bytes` into the temporary file; on failure it is removed.
fn fill(mut file: File, tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(tmp); // this write's own temporary file
        io(path)(e)
    })
}

/// Make the rename durable: fsync the folder holding `path` (Unix; elsewhere a no-op).
fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}
