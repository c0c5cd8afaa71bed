//! `heft predict`: a trained checkpoint (teacher or student) run on image files and folders it
//! has never seen. Images are decoded by the background loader and scored in batches; each gets
//! its predicted class (the same argmax as `heft eval`) and the softmax probability of every
//! class. Unreadable images are listed, not fatal. Output as CSV or JSON, written to a new file
//! (temporary name, then renamed) or returned for standard output.

use crate::data::loader::{Loader, LoaderCfg};
use crate::data::{image_files, image::Normalize, Dataset, Sample};
use crate::error::{Error, Result};
use crate::nn::eval::{forward_batches, Keep};
use crate::nn::model::Model;
use crate::report::metrics::argmax;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One image's prediction: `class` indexes the model's class names; `probs` has one value per
/// class and sums to 1.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub path: PathBuf,
    pub class: usize,
    pub probs: Vec<f32>,
}

/// Everything one run predicted, in input order, and the images that could not be read.
#[derive(Clone, Debug)]
pub struct Predictions {
    pub classes: Vec<String>,
    pub rows: Vec<Prediction>,
    pub unreadable: Vec<PathBuf>,
    pub seconds: f64,
}

/// The image files named by `inputs`: a file as given (whatever its extension; decoding judges
/// it), a folder searched recursively for .png/.jpg/.jpeg. Repeated paths are kept once.
pub fn gather(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let found = image_files(input)?;
            if found.is_empty() {
                return Err(Error::Invalid(format!("{} holds no .png/.jpg/.jpeg images; pass image files or a folder of them", input.display())));
            }
            out.extend(found);
        } else if input.exists() {
            out.push(input.clone());
        } else {
            return Err(Error::Invalid(format!("{} does not exist; pass image files or folders", input.display())));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

/// Softmax of one row of logits, computed in f64 (max subtracted) and rounded to f32.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let exp: Vec<f64> = logits.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}

/// Predicts every image of `paths` in batches of `batch`, with a progress bar on stderr when
/// `progress`. `reject_truncated` skips truncated files (listed as unreadable) instead of using
/// them with a warning. Fails only when no image at all could be read.
pub fn run(model: &Model, paths: &[PathBuf], batch: usize, norm: Normalize, reject_truncated: bool, progress: bool) -> Result<Predictions> {
    let start = std::time::Instant::now();
    let c = &model.config;
    let samples = paths.iter().map(|p| Sample { path: p.clone(), label: 0, crop: None }).collect();
    let ds = Dataset { classes: c.class_names.clone(), samples };
    let cfg = LoaderCfg { reject_truncated, ..LoaderCfg::inference(c.input, c.in_channels, batch, norm) };
    let bar = crate::train::progress(progress, paths.len(), "predict");
    let mut found: Vec<Option<Prediction>> = vec![None; paths.len()];
    forward_batches(model, Loader::new(&ds, cfg, 0), Keep::default(), |s| {
        let logits = s.logits.to_f32()?;
        for (&i, row) in s.batch.indices.iter().zip(logits.chunks_exact(c.classes)) {
            found[i] = Some(Prediction { path: paths[i].clone(), class: argmax(row), probs: softmax(row) });
        }
        bar.inc(s.batch.n as u64);
        Ok(())
    })?;
    bar.finish_and_clear();
    let unreadable: Vec<PathBuf> = found.iter().zip(paths).filter(|(f, _)| f.is_none()).map(|(_, p)| p.clone()).collect();
    let rows: Vec<Prediction> = found.into_iter().flatten().collect();
    if rows.is_empty() {
        return Err(Error::Invalid(format!("none of the {} images could be read; see the warnings above", paths.len())));
    }
    Ok(Predictions { classes: c.class_names.clone(), rows, unreadable, seconds: start.elapsed().as_secs_f64() })
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `path,predicted,<class 0>,<class 1>,...`: one row per image with its predicted class name and
/// the probability of each class (f32, shortest exact form).
pub fn to_csv(p: &Predictions) -> String {
    let mut out = String::from("path,predicted");
    for c in &p.classes {
        out += ",";
        out += &csv_field(c);
    }
    out.push('\n');
    for r in &p.rows {
        let _ = write!(out, "{},{}", csv_field(&r.path.display().to_string()), csv_field(&p.classes[r.class]));
        for v in &r.probs {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    out
}

/// `{"classes": [...], "predictions": [{"path", "predicted", "probabilities": [...]}], "unreadable": [...]}`.
pub fn to_json(p: &Predictions) -> Result<String> {
    let rows: Vec<serde_json::Value> = p
        .rows
        .iter()
        .map(|r| serde_json::json!({ "path": r.path.display().to_string(), "predicted": p.classes[r.class], "probabilities": r.probs }))
        .collect();
    let unreadable: Vec<String> = p.unreadable.iter().map(|u| u.display().to_string()).collect();
    let v = serde_json::json!({ "classes": p.classes, "predictions": rows, "unreadable": unreadable });
    serde_json::to_string_pretty(&v).map(|s| s + "\n").map_err(|e| Error::Invalid(e.to_string()))
}

/// The console summary: images per predicted class, speed, and the unreadable files by name.
pub fn summary(p: &Predictions) -> String {
    let n = p.rows.len();
    let mut out = format!("predicted {n} images in {:.1} s ({:.0} images/s)\n", p.seconds, n as f64 / p.seconds.max(1e-9));
    let width = p.classes.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    for (k, name) in p.classes.iter().enumerate() {
        let count = p.rows.iter().filter(|r| r.class == k).count();
        let _ = writeln!(out, "  {name:<width$}  {count:>7}  ({:.1}%)", 100.0 * count as f64 / n as f64);
    }
    if !p.unreadable.is_empty() {
        let _ = writeln!(out, "{} unreadable images were skipped (reasons in the warnings above):", p.unreadable.len());
        for u in &p.unreadable {
            let _ = writeln!(out, "  {}", u.display());
        }
    }
    out
}

/// Refuses an existing output file unless `overwrite`, and a file in a folder that does not
/// exist (checked before the work and again before writing).
pub fn check_out(path: &Path, overwrite: bool) -> Result<()> {
    if path.exists() && !overwrite {
        return Err(Error::Invalid(format!("{} already exists; choose another --out or pass --overwrite", path.display())));
    }
    match path.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        Some(dir) => Err(Error::Invalid(format!("folder {} does not exist; create it or choose another --out", dir.display()))),
        None => Ok(()),
    }
}

/// Writes `text` to `path` atomically (`fsx`); an existing `path` is replaced only when
/// `overwrite`.
pub fn write_new(path: &Path, text: &str, overwrite: bool) -> Result<()> {
    check_out(path, overwrite)?;
    match overwrite {
        true => crate::fsx::write(path, text.as_bytes()),
        false => crate::fsx::write_new(path, text.as_bytes()),
    }
}
