//! Checkpoints: a model's state dict as safetensors (torchvision names, f32) plus its
//! `ModelConfig` as JSON beside it (`teacher.safetensors` + `teacher.json`). Loading reports
//! missing, unexpected and mis-shaped tensors by name; `Pretrained` mode starts a model from
//! torchvision weights (e.g. ImageNet AlexNet), keeping fresh values where shapes differ.

use super::convert::to_student;
use super::model::{Model, ModelConfig};
use crate::error::{Error, Result};
use crate::fsx;
use crate::Gpu;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |err| Error::Io { path: path.display().to_string(), err }
}

pub fn config_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Write `path` (safetensors, `safetensors_file`) and its JSON config, each atomically, so an
/// interrupted save never leaves a half-written checkpoint. A model
/// holding a NaN or infinite value is refused (the file already there is kept).
pub fn save(model: &Model, path: &Path) -> Result<()> {
    let mut data: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (name, t) in model.state() {
        let values = t.to_f32()?;
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!("{}: not saved, {name} holds {v}", path.display())));
        }
        data.push((name, t.shape().to_vec(), values));
    }
    crate::safetensors_file::write(path, &data, None)?;
    let json = serde_json::to_string_pretty(&model.config).map_err(|e| Error::Invalid(e.to_string()))?;
    fsx::write(&config_path(path), json.as_bytes())
}

pub fn read_config(weights: &Path) -> Result<ModelConfig> {
    let p = config_path(weights);
    let text = std::fs::read_to_string(&p).map_err(io(&p))?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: not a heft model config: {e}", p.display())))
}

/// Rebuild a model from its config and load its weights strictly. The weights file is read
/// and checked first, so that a missing or corrupt checkpoint is reported as such rather than
/// as a problem with its JSON config.
pub fn load(gpu: &Gpu, path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let st = parse(&bytes, path)?;
    let config = read_config(path)?;
    let cfg_path = config_path(path);
    let named = |e: Error| match e {
        Error::Invalid(m) => Error::Invalid(format!("{}: {m}", cfg_path.display())),
        e => e,
    };
    let mut model = build(gpu, config).map_err(named)?;
    apply_state(&mut model, &st, path, Some(&cfg_path), LoadMode::Strict)?;
    Ok(model)
}

/// The network `config` describes (a student built from its teacher's layout), with seed-0
/// weights: what `load` fills, or all an architecture question (HE depth) needs.
pub fn build(gpu: &Gpu, config: ModelConfig) -> Result<Model> {
    let mut teacher_cfg = config.clone();
    teacher_cfg.student = None;
    let teacher = Model::teacher(gpu, teacher_cfg, 0)?;
    let mut model = match &config.student {
        Some(s) => to_student(&teacher, s)?,
        None => teacher,
    };
    model.config = config;
    Ok(model)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadMode {
    /// Every tensor must be present with the right shape, and nothing else may be in the file.
    Strict,
    /// Load what matches; report the rest and keep its fresh values (starting from pretrained
    /// weights with another head, input size or channel count).
    Pretrained,
}

/// What a load did, by tensor name.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub misshaped: Vec<String>,
    /// RGB conv weights summed over colour channels to fit a 1-channel input.
    pub to_gray: Vec<String>,
}

impl LoadReport {
    pub fn describe(&self) -> String {
        let mut s = format!("loaded {} tensors", self.loaded.len());
        for (what, v) in [("missing", &self.missing), ("unexpected", &self.unexpected), ("mis-shaped", &self.misshaped), ("summed over RGB for 1-channel input", &self.to_gray)] {
            if !v.is_empty() {
                s += &format!("; {what}: {}", v.join(", "));
            }
        }
        s
    }
}

fn to_f32(path: &Path, name: &str, v: &TensorView<'_>) -> Result<Vec<f32>> {
    let b = v.data();
    match v.dtype() {
        Dtype::F32 => Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        Dtype::F64 => Ok(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect()),
        d => Err(Error::Invalid(format!("{}: tensor {name} is {d:?}; heft reads f32 and f64 (convert with tensor.float())", path.display()))),
    }
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| {
        Error::Invalid(format!(
            "{}: not a safetensors file ({e}); pass a checkpoint written by heft (e.g. runs/<run>/teacher.safetensors)",
            path.display()
        ))
    })
}

pub fn load_state(model: &mut Model, path: &Path, mode: LoadMode) -> Result<LoadReport> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    apply_state(model, &parse(&bytes, path)?, path, None, mode)
}

/// Writes the tensors of `st` (read from `path`) into `model` (built from `config`, if it came
/// from a file) by name.
fn apply_state(model: &mut Model, st: &SafeTensors<'_>, path: &Path, config: Option<&Path>, mode: LoadMode) -> Result<LoadReport> {
    let mut report = LoadReport::default();
    let file: HashMap<String, TensorView<'_>> = st.tensors().into_iter().collect();
    let ours: Vec<(String, crate::Tensor)> = model.state().into_iter().map(|(n, t)| (n, t.clone())).collect();
    for (name, t) in &ours {
        let Some(v) = file.get(name) else {
            report.missing.push(name.clone());
            continue;
        };
        let data = to_f32(path, name, v)?;
        if v.shape() == t.shape() {
            t.write_f32(&data)?;
            report.loaded.push(name.clone());
        } else if mode == LoadMode::Pretrained && is_rgb_of(v.shape(), t.shape()) {
            // [co, 3, kh, kw] → [co, 1, kh, kw]: sum the colour channels (gray = R = G = B)
            let k = t.shape()[2] * t.shape()[3];
            let gray: Vec<f32> = (0..t.numel()).map(|i| (0..3).map(|c| data[(i / k) * 3 * k + c * k + i % k]).sum()).collect();
            t.write_f32(&gray)?;
            report.to_gray.push(name.clone());
        } else {
            report.misshaped.push(format!("{name} (file {:?}, model {:?})", v.shape(), t.shape()));
        }
    }
    let known: std::collections::HashSet<&str> = ours.iter().map(|(n, _)| n.as_str()).collect();
    report.unexpected = file.keys().filter(|k| !known.contains(k.as_str()) && !k.ends_with("num_batches_tracked")).cloned().collect();
    report.unexpected.sort();
    if mode == LoadMode::Strict && !(report.missing.is_empty() && report.unexpected.is_empty() && report.misshaped.is_empty()) {
        let of = config.map(|c| format!(" of {}", c.display())).unwrap_or_default();
        return Err(Error::Invalid(format!("{} does not match the model{of}: {}", path.display(), report.describe())));
    }
    Ok(report)
}

fn is_rgb_of(file: &[usize], model: &[usize]) -> bool {
    file.len() == 4 && model.len() == 4 && file[1] == 3 && model[1] == 1 && file[0] == model[0] && file[2..] == model[2..]
}
