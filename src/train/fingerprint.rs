//! The fingerprint of a training run: what its result depends on besides the epoch loop's own
//! state, as one line of JSON. The model's config, digests of its starting weights and of the
//! teacher's weights (a student), the recipe (console output aside) and a digest of the data
//! (every sample's path, label and crop box per split, the classes, normalisation and
//! strictness). An epoch state or a finished run in an output folder is only taken up by a run
//! with the same fingerprint.

use super::data::Data;
use super::state::{fnv, FNV_START};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::model::Model;
use crate::recipe::Recipe;
use serde_json::{json, Value};

/// Digest of a model's state dict (names, shapes and f32 bits), read back from the GPU.
pub(super) fn weights(model: &Model) -> Result<String> {
    let mut h = FNV_START;
    for (name, t) in model.state() {
        h = fnv(h, name.as_bytes());
        h = t.shape().iter().fold(h, |h, &d| fnv(h, &(d as u64).to_le_bytes()));
        h = fnv(h, bytemuck::cast_slice(&t.to_f32()?));
    }
    Ok(format!("{h:016x}"))
}

fn split(ds: &Dataset) -> String {
    let mut h = ds.classes.iter().fold(FNV_START, |h, c| fnv(fnv(h, c.as_bytes()), &[0]));
    for s in &ds.samples {
        h = fnv(fnv(h, s.path.to_string_lossy().as_bytes()), &[0]);
        h = fnv(h, &s.label.to_le_bytes());
        h = s.crop.map_or(fnv(h, &[0]), |c| c.iter().fold(fnv(h, &[1]), |h, v| fnv(h, &v.to_le_bytes())));
    }
    format!("{h:016x}")
}

/// The fingerprint of training `model` (as it is now, before training) on `data` with `recipe`,
/// distilled from `teacher` if given.
pub(super) fn of(model: &Model, teacher: Option<&Model>, data: &Data, recipe: &Recipe) -> Result<String> {
    let r = serde_json::to_value(recipe).map_err(|e| Error::Invalid(e.to_string()))?;
    let v = json!({
        "model": model.config,
        "start_weights": weights(model)?,
        "teacher_weights": teacher.map(weights).transpose()?,
        "recipe": r,
        "data": {
            "train": split(&data.train),
            "val": split(&data.val),
            "test": split(&data.test),
            "normalize": [data.norm.mean.to_bits(), data.norm.std.to_bits()],
            "strict": data.strict,
        },
    });
    Ok(v.to_string())
}

/// The keys in which two fingerprints differ (`recipe.lr, data.train`), for the error message.
pub(super) fn differences(stored: &str, now: &str) -> String {
    fn walk(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let name = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                    walk(x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), &name, out);
                }
            }
            _ if a != b => out.push(if at.is_empty() { "everything".into() } else { at.into() }),
            _ => {}
        }
    }
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
    let mut out = Vec::new();
    walk(&parse(stored), &parse(now), "", &mut out);
    if out.is_empty() { "nothing visible".into() } else { out.join(", ") }
}
