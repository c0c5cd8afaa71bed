//! `heft tune`: times every variant the adapter can run of each tunable op of a model's
//! training step (the GEMM's variants per product shape; the convolution's forms, unfolded or
//! direct, per layer and pass), keeps the fastest, and caches the choices in a JSON file per
//! adapter, driver and heft version (in the user's cache folder). Training loads that file and,
//! on first use, tunes what it lacks; without a cache (`--no-tune`) every op uses its static
//! choice (`matmul::heuristic`, `conv2d::heuristic`).

mod measure;
mod tuning;

pub use measure::{measure, measure_among};
pub use tuning::Tuning;

use crate::error::{Error, Result};
use crate::gpu::tuning::Shape;
use crate::gpu::Gpu;
use crate::nn::model::{ModelConfig, StudentConfig};
use crate::ops::{conv2d, matmul};
use crate::profile::RandomStep;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The tuning cache of one adapter.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TuneFile {
    /// heft version and adapter (name, backend, type, driver) the timings belong to.
    pub key: String,
    pub entries: Vec<Entry>,
    /// The tunable ops of each training step already seen, so that a cached model needs no
    /// extra step to learn them.
    pub steps: Vec<StepSites>,
}

/// The tunable ops of one training step: model, role and batch (`step_key`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepSites {
    pub step: String,
    pub sites: Vec<Site>,
}

/// The ops whose variant is chosen by measurement, with the names of their variants.
pub fn tunable(op: &str) -> Option<(&'static str, Vec<&'static str>)> {
    match op {
        "matmul" => Some(("matmul", matmul::VARIANTS.iter().map(|v| v.name).collect())),
        "conv2d_fwd" => Some(("conv2d_fwd", conv2d::FORMS.iter().map(|f| f.0).collect())),
        "conv2d_bwd" => Some(("conv2d_bwd", conv2d::FORMS.iter().map(|f| f.0).collect())),
        _ => None,
    }
}

/// The variant `site` runs with on this GPU, and whether that is a tuned choice (else the
/// static one).
pub fn chosen(gpu: &Gpu, site: &Site) -> (&'static str, bool) {
    let s = &site.shape;
    if let ("matmul", &[m, n, kp]) = (site.op.as_str(), &s[..]) {
        let (v, tuned) = matmul::choose(gpu, m, n, kp);
        return (matmul::VARIANTS[v].name, tuned);
    }
    let tuned = tunable(&site.op).and_then(|(op, names)| gpu.tuning().lookup(op, s.clone()).and_then(|i| names.get(i).copied()));
    tuned.map_or((static_choice(gpu, site), false), |name| (name, true))
}

/// One tunable op of a training step: a GEMM ("matmul", [M, N, K padded to 4]) or one pass
/// of a convolution ("conv2d_fwd" / "conv2d_bwd", `conv2d::key`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Site {
    pub op: String,
    pub shape: Shape,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let s = &self.shape;
        match (self.op.as_str(), s.len()) {
            ("matmul", 3) => write!(f, "GEMM {} x {} x {}", s[0], s[1], s[2]),
            (op, 10) => write!(f, "{op} b{} {}x{}x{} -> {} k{} s{} p{}{}", s[0], s[1], s[2], s[3], s[4], s[5], s[7], s[8], if s[9] == 1 { " +dx" } else { "" }),
            (op, _) => write!(f, "{op} {s:?}"),
        }
    }
}

/// Names a training step by what decides its GEMM shapes: the model's config (class names
/// aside: only their count matters), the student conversion and the batch.
pub fn step_key(cfg: &ModelConfig, student: Option<&StudentConfig>, batch: usize) -> String {
    let cfg = ModelConfig { class_names: Vec::new(), ..cfg.clone() };
    serde_json::json!({ "model": cfg, "student": student, "batch": batch }).to_string()
}

/// The timings of one op at one shape and the variant chosen.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub site: Site,
    pub choice: String,
    /// Milliseconds of each variant that ran (its minimum over interleaved rounds; a variant
    /// far slower than the best was run once), fastest first.
    pub ms: Vec<(String, f64)>,
}

/// What the timings are valid for: heft's version, the cache's format and the adapter with
/// its driver. Format 4: format 3 with the subgroup-broadcast GEMMs among the variants (a cache
/// of an older format is not read, so every adapter is tuned again once); 3: each variant's
/// minimum over interleaved rounds; 2: its median, timed in one block.
pub fn key(gpu: &Gpu) -> String {
    format!("heft {} (tuning format 4) on {}", env!("CARGO_PKG_VERSION"), gpu.describe())
}

/// `$HEFT_CACHE_DIR`, else `$XDG_CACHE_HOME/heft`, else `~/.cache/heft`.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HEFT_CACHE_DIR").or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("heft"))).or_else(|| var("HOME").map(|h| h.join(".cache/heft")))
}

/// The cache file of this adapter in `dir`: `tune-<adapter>-<hash of the key>.json`.
pub fn cache_path(gpu: &Gpu, dir: &Path) -> PathBuf {
    let key = key(gpu);
    // FNV-1a: a stable name per key (std's hasher may change between Rust releases)
    let hash = key.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    let name: String = gpu.info().name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    dir.join(format!("tune-{}-{hash:016x}.json", name.trim_matches('-')))
}

/// Read the cache file at `path`; `None` when there is none yet.
pub fn load(path: &Path) -> Result<Option<TuneFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io(path)(err)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Invalid(format!("{}: not a heft tuning cache ({e}); delete it or run `heft tune` again", path.display())))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |err| Error::Io { path: path.display().to_string(), err }
}

/// Write `file` to `path` atomically (`fsx::write`).
pub fn save(file: &TuneFile, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let json = serde_json::to_string_pretty(file).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsx::write(path, json.as_bytes())
}

/// Make the GPU use the choices of `entries` (entries naming an unknown op or variant are
/// ignored).
fn apply_entries(gpu: &Gpu, entries: &[Entry]) {
    let mut t = gpu.tuning();
    for e in entries {
        if let Some((op, names)) = tunable(&e.site.op) {
            if let Some(i) = names.iter().position(|n| *n == e.choice) {
                t.set(op, e.site.shape.clone(), i);
            }
        }
    }
}

/// Make the GPU use the choices of `file`, read from `source`.
pub fn apply(gpu: &Gpu, file: &TuneFile, source: &Path) {
    apply_entries(gpu, &file.entries);
    gpu.tuning().source = Some(source.display().to_string());
}

/// How `recheck` found one cached choice.
#[derive(Clone, Debug)]
pub enum Recheck {
    /// The choice is the static one: nothing to compare it with.
    Static,
    /// Timed again against the static choice, it was not over `RECHECK_MARGIN` slower.
    Kept { choice: String, ms: f64, static_ms: f64 },
    /// It was: every variant was timed again and this entry replaced it.
    Replaced { old: String, old_ms: f64, static_ms: f64, entry: Entry },
}

/// How much slower than the static choice a cached choice may time in `recheck` before the op
/// is tuned again: 10 %, beyond the spread of repeated minima on a quiet machine.
pub const RECHECK_MARGIN: f64 = 1.10;

/// Time each cached choice of `sites` again against the static choice, in interleaved rounds,
/// and tune the op again (every variant) where the cached one now loses by over
/// `RECHECK_MARGIN`: a choice that a noisy minute made is not kept for good. Saves the cache
/// when a choice was replaced, and makes the GPU use it; ops without a cached choice are left
/// to `ensure`.
pub fn recheck(gpu: &Gpu, dir: &Path, sites: &[Site], reps: usize, mut progress: impl FnMut(&Site, &Recheck)) -> Result<Vec<(Site, Recheck)>> {
    let path = cache_path(gpu, dir);
    let Some(mut file) = load(&path)? else { return Ok(Vec::new()) };
    apply(gpu, &file, &path);
    let mut out = Vec::new();
    let mut order: Vec<usize> = (0..file.entries.len()).filter(|&i| sites.contains(&file.entries[i].site)).collect();
    order.sort_by_key(|&i| gemms_first(&file.entries[i].site));
    for i in order {
        let (site, choice) = (file.entries[i].site.clone(), file.entries[i].choice.clone());
        let fixed = static_choice(gpu, &site);
        let verdict = if choice == fixed {
            Recheck::Static
        } else {
            let duel = measure_among(gpu, &site, reps, &|v| v == choice || v == fixed)?;
            let time = |name: &str| duel.ms.iter().find(|m| m.0 == name).map_or(f64::INFINITY, |m| m.1);
            let (ms, static_ms) = (time(&choice), time(fixed));
            if ms > RECHECK_MARGIN * static_ms {
                let entry = measure(gpu, &site, reps)?;
                file.entries[i] = entry.clone();
                apply_entries(gpu, std::slice::from_ref(&entry));
                Recheck::Replaced { old: choice, old_ms: ms, static_ms, entry }
            } else {
                Recheck::Kept { choice, ms, static_ms }
            }
        };
        progress(&site, &verdict);
        out.push((site, verdict));
    }
    if out.iter().any(|(_, r)| matches!(r, Recheck::Replaced { .. })) {
        save(&file, &path)?;
    }
    Ok(out)
}

/// The order ops are timed in: GEMMs first, so that an unfolded convolution is timed with its
/// tuned GEMMs.
fn gemms_first(s: &Site) -> (bool, &Site) {
    (s.op != "matmul", s)
}

/// The variant `site` runs with when nothing is tuned.
fn static_choice(gpu: &Gpu, site: &Site) -> &'static str {
    match (site.op.as_str(), &site.shape[..]) {
        ("matmul", &[m, n, _]) => matmul::VARIANTS[matmul::heuristic(gpu, m, n)].name,
        _ => conv2d::FORMS.iter().find(|f| f.1 == conv2d::heuristic()).map_or("unfold", |f| f.0),
    }
}

/// The tunable ops of one training step of `cfg` (its student's distillation step when
/// `student` is set) at `batch`, found by running the step once on random data.
pub fn step_sites(gpu: &Gpu, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize) -> Result<Vec<Site>> {
    RandomStep::new(gpu, cfg, student, batch, 1)?.run_recording(0)
}

/// The tunable ops of that step as the cache in `dir` remembers them, else found by
/// `step_sites` (and remembered by the next `ensure`).
pub fn cached_step_sites(gpu: &Gpu, dir: &Path, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize) -> Result<Vec<Site>> {
    let key = step_key(&cfg, student.as_ref(), batch);
    let known = load(&cache_path(gpu, dir))?.and_then(|f| f.steps.into_iter().find(|s| s.step == key));
    match known {
        Some(s) => Ok(s.sites),
        None => step_sites(gpu, cfg, student, batch),
    }
}

/// Load this adapter's cache from `dir`, time the ops of `sites` (those of training step
/// `step`, a `step_key`) it lacks (`announce` is told how many and where they will be cached,
/// `progress` gets each timing), remember the step's ops, save it back, and make the GPU use
/// it. GEMMs are timed first, so that the unfolded convolution is timed with its tuned GEMMs.
/// Returns the cache path and how many ops were timed now.
pub fn ensure(
    gpu: &Gpu,
    dir: &Path,
    step: &str,
    sites: &[Site],
    reps: usize,
    announce: impl FnOnce(usize, &Path),
    mut progress: impl FnMut(&Entry),
) -> Result<(PathBuf, usize)> {
    let path = cache_path(gpu, dir);
    let mut file = load(&path)?.unwrap_or_default();
    file.key = key(gpu);
    let mut missing: Vec<&Site> = sites.iter().filter(|s| !file.entries.iter().any(|e| e.site == **s)).collect();
    missing.sort_by_key(|s| gemms_first(s));
    if !missing.is_empty() {
        announce(missing.len(), &path);
    }
    for s in &missing {
        if s.op != "matmul" {
            apply_entries(gpu, &file.entries);
        }
        let e = measure(gpu, s, reps)?;
        progress(&e);
        file.entries.push(e);
    }
    let new_step = !file.steps.iter().any(|s| s.step == step);
    if new_step {
        file.steps.push(StepSites { step: step.to_string(), sites: sites.to_vec() });
    }
    if !missing.is_empty() || new_step {
        file.entries.sort_by(|a, b| a.site.cmp(&b.site));
        save(&file, &path)?;
    }
    apply(gpu, &file, &path);
    Ok((path, missing.len()))
}
