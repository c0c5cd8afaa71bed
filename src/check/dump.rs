//! What a whole-model golden file (a PyTorch dump) asks heft to build and run, read from its
//! metadata (data/reference/README.md): the model with its weights, the loss's class weights
//! and the Adam settings. A key heft cannot honour is refused, naming it, instead of ignored.

use super::golden::{float, num, Golden};
use crate::error::{Error, Result};
use crate::nn::convert::to_student;
use crate::nn::layers::ActKind;
use crate::nn::model::{Arch, Model, ModelConfig, StudentConfig};
use crate::ops::optim::AdamCfg;
use crate::tensor::Tensor;
use crate::Gpu;
use serde_json::Value;

/// Metadata keys `heft check --against` understands. `batch` is checked against `x`;
/// `torch_version` and `command` are provenance.
const KEYS: &[&str] = &[
    "adam", "arch", "batch", "batchnorm", "class_weights", "classes", "command", "conv1_pad", "dropout", "hidden", "in_ch", "input",
    "student", "student_batchnorm", "student_init", "torch_version", "width",
];
const ADAM_KEYS: &[&str] = &["betas", "eps", "lr", "weight_decay"];

/// A dump's model (weights loaded), class weights (a `[classes]` tensor) and optimiser (None
/// in a dump of one step without `adam` settings).
pub struct Dump {
    pub model: Model,
    pub class_weights: Tensor,
    pub adam: Option<AdamCfg>,
}

impl Dump {
    pub fn read(gpu: &Gpu, g: &Golden) -> Result<Dump> {
        if let Some(k) = g.meta_keys().into_iter().find(|k| !KEYS.contains(k)) {
            return Err(Error::Invalid(format!("dump metadata {k:?} is not supported by heft check (it understands: {})", KEYS.join(", "))));
        }
        let dropout = float(&g.meta("dropout")?, "")?;
        if dropout != 0.0 {
            return Err(Error::Invalid(format!(
                "dump metadata \"dropout\" is {dropout}: heft cannot reproduce PyTorch's dropout masks; dump the model with dropout 0"
            )));
        }
        let model = model(gpu, g)?;
        let classes = model.config.classes;
        let batch = num(&g.meta("batch")?, "")?;
        if g.get("x")?.0.first() != Some(&batch) {
            return Err(Error::Invalid(format!("dump metadata \"batch\" is {batch}, but x has shape {:?}", g.get("x")?.0)));
        }
        let cw = match g.meta("class_weights") {
            Ok(v) => numbers(&v, "class_weights")?,
            Err(_) => vec![1.0; classes],
        };
        if cw.len() != classes || cw.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(Error::Invalid(format!("dump metadata \"class_weights\" needs {classes} finite non-negative numbers, got {cw:?}")));
        }
        let adam = match g.meta("adam") {
            Ok(v) => Some(adam(&v)?),
            Err(_) => None,
        };
        Ok(Dump { class_weights: Tensor::from_f32(gpu, &cw, &[classes])?, adam, model })
    }
}

/// `torch.optim.Adam` settings (L2 weight decay added to the gradient, as PyTorch's Adam).
fn adam(v: &Value) -> Result<AdamCfg> {
    let obj = v.as_object().ok_or_else(|| Error::Invalid(format!("dump metadata \"adam\" is not an object: {v}")))?;
    if let Some(k) = obj.keys().find(|k| !ADAM_KEYS.contains(&k.as_str())) {
        return Err(Error::Invalid(format!("dump metadata \"adam\" setting {k:?} is not supported by heft check (it understands: {})", ADAM_KEYS.join(", "))));
    }
    let betas = numbers(&v["betas"], "adam betas")?;
    let [beta1, beta2] = <[f32; 2]>::try_from(betas).map_err(|b| Error::Invalid(format!("dump metadata adam betas needs 2 numbers, got {b:?}")))?;
    Ok(AdamCfg { lr: float(v, "lr")?, beta1, beta2, eps: float(v, "eps")?, weight_decay: float(v, "weight_decay")?, decoupled: false })
}

fn numbers(v: &Value, what: &str) -> Result<Vec<f32>> {
    let a = v.as_array().ok_or_else(|| Error::Invalid(format!("dump metadata {what} is not a list of numbers: {v}")))?;
    a.iter().map(|x| x.as_f64().map(|x| x as f32).ok_or_else(|| Error::Invalid(format!("dump metadata {what}: {x} is not a number")))).collect()
}

/// The model the metadata describes (arch, classes, in_ch, input, width, hidden, conv1_pad,
/// batchnorm (the teacher's), student, student_init, student_batchnorm), with every tensor of `weights/` loaded.
fn model(gpu: &Gpu, g: &Golden) -> Result<Model> {
    let arch: Arch = serde_json::from_value(g.meta("arch")?).map_err(|e| Error::Invalid(format!("metadata arch: {e}")))?;
    let classes = num(&g.meta("classes")?, "")?;
    let mut cfg = ModelConfig::new(arch, (0..classes).map(|i| format!("class{i}")).collect(), num(&g.meta("in_ch")?, "")?, num(&g.meta("input")?, "")?);
    cfg.width = float(&g.meta("width")?, "")?;
    cfg.hidden = g.meta("hidden").ok().and_then(|v| v.as_u64()).unwrap_or(4096) as usize;
    cfg.conv1_pad = g.meta("conv1_pad").ok().and_then(|v| v.as_u64()).unwrap_or(5) as usize;
    cfg.dropout = 0.0;
    cfg.batchnorm = g.meta("batchnorm").ok().and_then(|v| v.as_bool()).unwrap_or(false);
    let teacher = Model::teacher(gpu, cfg, 0)?;
    let mut model = if g.meta("student").ok().and_then(|v| v.as_bool()).unwrap_or(false) {
        let init = <[f32; 3]>::try_from(numbers(&g.meta("student_init")?, "student_init")?)
            .map_err(|_| Error::Invalid("metadata student_init needs 3 numbers".into()))?;
        let batchnorm = g.meta("student_batchnorm").ok().and_then(|v| v.as_bool()).unwrap_or(true);
        to_student(&teacher, &StudentConfig { act: ActKind::Poly, init, batchnorm, linear: vec![] })?
    } else {
        teacher
    };
    load(&model, g, "weights/", true)?;
    model.finish_transition();
    Ok(model)
}

/// Write `<prefix><name>` into every model tensor of that name: the whole state (parameters
/// and batch-norm statistics) when `state`, else the parameters only. Everything must be there.
pub fn load(model: &Model, g: &Golden, prefix: &str, state: bool) -> Result<()> {
    let tensors: Vec<(String, &Tensor)> =
        if state { model.state() } else { model.params().into_iter().map(|p| (p.name.clone(), &p.value)).collect() };
    let mut missing = Vec::new();
    for (name, t) in tensors {
        match g.get(&format!("{prefix}{name}")) {
            Ok((shape, data)) if shape == t.shape() => t.write_f32(data)?,
            Ok((shape, _)) => return Err(Error::Invalid(format!("{prefix}{name} has shape {shape:?}, the model {:?}", t.shape()))),
            Err(_) => missing.push(name),
        }
    }
    if !missing.is_empty() {
        return Err(Error::Invalid(format!("the golden file lacks {prefix} tensors for: {}", missing.join(", "))));
    }
    Ok(())
}
