//! `heft tune`: times every GEMM variant the adapter can run on the GEMM shapes of a model's
//! training step, keeps the fastest per shape, and caches the choices in a JSON file per
//! adapter, driver and heft version (in the user's cache folder). Training loads that file and,
//! on first use, tunes the shapes it lacks; without a cache (`--no-tune`) every product uses
//! `matmul::heuristic`.

use crate::error::{Error, Result};
use crate::gpu::tuning::Shape;
use crate::gpu::Gpu;
use crate::nn::model::{ModelConfig, StudentConfig};
use crate::ops::matmul::{self, Bias, Gemm, OutMap, VARIANTS};
use crate::profile::RandomStep;
use crate::tensor::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The tuning cache of one adapter.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TuneFile {
    /// heft version and adapter (name, backend, type, driver) the timings belong to.
    pub key: String,
    pub entries: Vec<Entry>,
    /// The GEMM shapes of each training step already seen, so that a cached model needs no
    /// extra step to learn them (absent in older files).
    #[serde(default)]
    pub steps: Vec<StepShapes>,
}

/// The GEMM shapes of one training step: model, role and batch (`step_key`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepShapes {
    pub step: String,
    pub shapes: Vec<Shape>,
}

/// Names a training step by what decides its GEMM shapes: the model's config (class names
/// aside: only their count matters), the student conversion and the batch.
pub fn step_key(cfg: &ModelConfig, student: Option<&StudentConfig>, batch: usize) -> String {
    let cfg = ModelConfig { class_names: Vec::new(), ..cfg.clone() };
    serde_json::json!({ "model": cfg, "student": student, "batch": batch }).to_string()
}

/// The timings of one GEMM shape and the variant chosen.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// [M, N, K padded to 4].
    pub shape: Shape,
    pub choice: String,
    /// Median milliseconds of each variant that ran, fastest first.
    pub ms: Vec<(String, f64)>,
}

/// What the timings are valid for: heft's version and the adapter with its driver.
pub fn key(gpu: &Gpu) -> String {
    format!("heft {} on {}", env!("CARGO_PKG_VERSION"), gpu.describe())
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

/// Make the GPU use the choices of `file` (entries naming an unknown variant are ignored).
pub fn apply(gpu: &Gpu, file: &TuneFile, source: &Path) {
    let mut t = gpu.tuning();
    for e in &file.entries {
        if let Some(i) = matmul::variant_index(&e.choice) {
            t.set("matmul", e.shape, i);
        }
    }
    t.source = Some(source.display().to_string());
}

/// The GEMM shapes of one training step of `cfg` (its student's distillation step when
/// `student` is set) at `batch`, found by running the step once on random data.
pub fn step_shapes(gpu: &Gpu, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize) -> Result<Vec<Shape>> {
    RandomStep::new(gpu, cfg, student, batch, 1)?.run_recording_gemms(0)
}

/// The GEMM shapes of that step as the cache in `dir` remembers them, else found by
/// `step_shapes` (and remembered by the next `ensure`).
pub fn cached_step_shapes(gpu: &Gpu, dir: &Path, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize) -> Result<Vec<Shape>> {
    let key = step_key(&cfg, student.as_ref(), batch);
    let known = load(&cache_path(gpu, dir))?.and_then(|f| f.steps.into_iter().find(|s| s.step == key));
    match known {
        Some(s) => Ok(s.shapes),
        None => step_shapes(gpu, cfg, student, batch),
    }
}

/// Median milliseconds of `f` (each sample repeats it enough to last about 20 ms). A variant
/// whose second run is over 3x `best` (the fastest median so far) is not sampled further: that
/// run's time is returned.
fn median_ms(gpu: &Gpu, reps: usize, best: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    gpu.sync()?; // warm-up: compiles the pipeline
    let t = Instant::now();
    f()?;
    gpu.sync()?;
    let once = t.elapsed().as_secs_f64() * 1e3;
    if once > 3.0 * best {
        return Ok(once);
    }
    let inner = ((20.0 / once.max(1e-3)) as usize).clamp(1, 50);
    let mut ms = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        for _ in 0..inner {
            f()?;
        }
        gpu.sync()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3 / inner as f64);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// Time every variant that runs here on one [M, N, K] product; the fastest is the choice
/// (variants far slower than the best so far are timed once, not sampled).
pub fn measure(gpu: &Gpu, shape: Shape, reps: usize) -> Result<Entry> {
    let [m, n, kp] = shape;
    let fill = |rows: usize, seed: usize| -> Result<Tensor> {
        let v: Vec<f32> = (0..rows * kp).map(|i| ((i * 7919 + seed) % 1000) as f32 / 1000.0 - 0.5).collect();
        Tensor::from_f32(gpu, &v, &[rows, kp])
    };
    let (a, b) = (fill(m, 1)?, fill(n, 2)?);
    let c = Tensor::empty(gpu, &[m, n], DType::F32)?;
    let mut ms: Vec<(String, f64)> = Vec::new();
    for (i, v) in VARIANTS.iter().enumerate().filter(|(_, v)| v.available(gpu)) {
        let best = ms.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
        let t = median_ms(gpu, reps, best, || matmul::matmul_into_with(i, &Gemm { a: &a, b: &b, m, n, kp, bias: Bias::None, c: &c, map: OutMap::row_major(n), accumulate: false }))?;
        ms.push((v.name.to_string(), t));
    }
    ms.sort_by(|x, y| x.1.total_cmp(&y.1));
    Ok(Entry { shape, choice: ms[0].0.clone(), ms })
}

/// Load this adapter's cache from `dir`, time the shapes of `shapes` (the GEMMs of training
/// step `step`, a `step_key`) it lacks (`announce` is told how many and where they will be
/// cached, `progress` gets each timing), remember the step's shapes, save it back, and make
/// the GPU use it. Returns the cache path and how many shapes were timed now.
pub fn ensure(
    gpu: &Gpu,
    dir: &Path,
    step: &str,
    shapes: &[Shape],
    reps: usize,
    announce: impl FnOnce(usize, &Path),
    mut progress: impl FnMut(&Entry),
) -> Result<(PathBuf, usize)> {
    let path = cache_path(gpu, dir);
    let mut file = load(&path)?.unwrap_or_default();
    file.key = key(gpu);
    let missing: Vec<Shape> = shapes.iter().copied().filter(|s| !file.entries.iter().any(|e| e.shape == *s)).collect();
    if !missing.is_empty() {
        announce(missing.len(), &path);
    }
    for &s in &missing {
        let e = measure(gpu, s, reps)?;
        progress(&e);
        file.entries.push(e);
    }
    let new_step = !file.steps.iter().any(|s| s.step == step);
    if new_step {
        file.steps.push(StepShapes { step: step.to_string(), shapes: shapes.to_vec() });
    }
    if !missing.is_empty() || new_step {
        file.entries.sort_by_key(|e| e.shape);
        save(&file, &path)?;
    }
    apply(gpu, &file, &path);
    Ok((path, missing.len()))
}
