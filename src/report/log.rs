//! The metrics log of a training run (`metrics.jsonl`): one JSON object per line, and the
//! reader for it. The log is started as a temporary file beside its path (`fsx::create_temp`);
//! each line is appended whole and fsynced, and the first line's write renames the temporary file
//! onto the path. So the previous log stays whole until the new run has one complete record (a
//! run that writes none leaves it as it was), and a crash can at worst cut short the line being
//! written: every earlier line of the new log is on disk, unchanged.

use crate::error::{Error, Result};
use crate::fsx;
use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct MetricsLog {
    file: File,
    path: PathBuf,
    /// The temporary file, until the first record renames it onto `path`.
    pending: Option<PathBuf>,
}

impl MetricsLog {
    /// Start a log that will replace the file at `path` with its first record.
    pub fn create(path: &Path) -> Result<MetricsLog> {
        let (file, tmp) = fsx::create_temp(path)?;
        Ok(MetricsLog { file, path: path.to_path_buf(), pending: Some(tmp) })
    }

    /// Append one record (a JSON object) as one line and fsync it.
    pub fn write(&mut self, record: &Value) -> Result<()> {
        if !record.is_object() {
            return Err(Error::Invalid(format!("{}: a metrics record must be a JSON object, got {record}", self.path.display())));
        }
        self.append(&format!("{record}\n"))
    }

    /// Append records already written as lines (each a JSON object, without its line end),
    /// byte for byte, in one write (a resumed run's earlier records).
    pub fn write_lines(&mut self, lines: &[String]) -> Result<()> {
        if let Some((i, _)) = lines.iter().enumerate().find(|(_, l)| !l.starts_with('{') || l.contains('\n')) {
            return Err(Error::Invalid(format!("{}: record {} to copy is not one JSON object line", self.path.display(), i + 1)));
        }
        self.append(&lines.iter().map(|l| format!("{l}\n")).collect::<String>())
    }

    fn append(&mut self, text: &str) -> Result<()> {
        let io = |err| Error::Io { path: self.path.display().to_string(), err };
        self.file.write_all(text.as_bytes()).and_then(|_| self.file.sync_data()).map_err(io)?;
        match self.pending.take() {
            Some(tmp) => fsx::commit(&tmp, &self.path),
            None => Ok(()),
        }
    }
}

impl Drop for MetricsLog {
    /// A log that never got a record leaves no temporary file (and the previous log as it was).
    fn drop(&mut self) {
        if let Some(tmp) = self.pending.take() {
            let _ = std::fs::remove_file(tmp); // this log's own temporary file
        }
    }
}

/// Read a JSON-lines file, one value per non-blank line; a bad line is reported by file and
/// line number.
pub fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| Error::Io { path: name.clone(), err })?;
    (text.lines().enumerate())
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| Error::Invalid(format!("{name}:{}: not valid JSON ({e})", i + 1)))
        })
        .collect()
}
