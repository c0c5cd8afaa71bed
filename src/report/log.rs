//! The metrics log of a training run (`metrics.jsonl`): one JSON object per line, each line
//! written whole and flushed at once, so a run that stops midway leaves every finished epoch
//! readable; and the reader for it.

use crate::error::{Error, Result};
use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::path::Path;

pub struct MetricsLog {
    file: File,
    path: String,
}

impl MetricsLog {
    /// Create (or truncate) the log file.
    pub fn create(path: &Path) -> Result<MetricsLog> {
        let name = path.display().to_string();
        match File::create(path) {
            Ok(file) => Ok(MetricsLog { file, path: name }),
            Err(err) => Err(Error::Io { path: name, err }),
        }
    }

    /// Append one record (a JSON object) as one line and flush it.
    pub fn write(&mut self, record: &Value) -> Result<()> {
        if !record.is_object() {
            return Err(Error::Invalid(format!("{}: a metrics record must be a JSON object, got {record}", self.path)));
        }
        let line = format!("{record}\n");
        let io = |err| Error::Io { path: self.path.clone(), err };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.flush().map_err(io)
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
