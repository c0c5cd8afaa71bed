//! The golden-file format of `heft check` (data/reference/README.md): a safetensors file of f32
//! tensors named `<case>/<tensor>` (or plain names in whole-model files) whose `__metadata__`
//! holds JSON text per key.

use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::Tensor;
use crate::Gpu;
use serde_json::Value;
use std::collections::HashMap;

/// A parsed golden file: tensors by name (shape, values) and the raw metadata strings.
pub struct Golden {
    name: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    meta: HashMap<String, String>,
}

impl Golden {
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Golden> {
        let bad = |e: String| Error::Invalid(format!("{name}: {e}"));
        let (_, md) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let mut tensors = HashMap::new();
        for (n, v) in st.tensors() {
            if v.dtype() != safetensors::Dtype::F32 {
                return Err(bad(format!("tensor {n} is {:?}, expected F32", v.dtype())));
            }
            let data = v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            tensors.insert(n, (v.shape().to_vec(), data));
        }
        Ok(Golden { name: name.to_string(), tensors, meta: md.metadata().clone().unwrap_or_default() })
    }

    pub fn open(path: &std::path::Path) -> Result<Golden> {
        let bytes = std::fs::read(path).map_err(|err| Error::Io { path: path.display().to_string(), err })?;
        Golden::parse(&path.display().to_string(), &bytes)
    }

    pub fn get(&self, name: &str) -> Result<&(Vec<usize>, Vec<f32>)> {
        self.tensors.get(name).ok_or_else(|| Error::Invalid(format!("{}: the golden file has no tensor {name}", self.name)))
    }

    pub fn data(&self, name: &str) -> Result<&[f32]> {
        Ok(&self.get(name)?.1)
    }

    pub fn upload(&self, gpu: &Gpu, name: &str) -> Result<Tensor> {
        let (shape, data) = self.get(name)?;
        Tensor::from_f32(gpu, data, shape)
    }

    /// Class labels stored as f32 values `0..classes-1`, as the one-hot form the loss kernels use.
    pub fn labels(&self, gpu: &Gpu, name: &str, classes: usize) -> Result<Tensor> {
        let data = self.data(name)?;
        if let Some(bad) = data.iter().find(|&&v| !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < classes)) {
            return Err(Error::Invalid(format!("{name}: label {bad} is not a class index below {classes}")));
        }
        let l: Vec<u32> = data.iter().map(|&v| v as u32).collect();
        ops::cross_entropy::labels(gpu, &l, classes)
    }

    /// Case names (tensor-name prefixes before '/'), sorted.
    pub fn cases(&self) -> Vec<String> {
        let mut c: Vec<String> = self.tensors.keys().filter_map(|k| k.split_once('/').map(|(c, _)| c.to_string())).collect();
        c.sort();
        c.dedup();
        c
    }

    /// Metadata entry `key` as JSON (text that is not JSON is taken as a string).
    pub fn meta(&self, key: &str) -> Result<Value> {
        let s = self.meta.get(key).ok_or_else(|| Error::Invalid(format!("{}: the golden file has no metadata {key}", self.name)))?;
        Ok(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
    }

    /// Every metadata key, sorted.
    pub fn meta_keys(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.meta.keys().map(String::as_str).collect();
        k.sort();
        k
    }
}

/// `meta[key]` (or `meta` itself when `key` is empty) as an integer.
pub fn num(meta: &Value, key: &str) -> Result<usize> {
    let v = if key.is_empty() { meta } else { &meta[key] };
    v.as_u64().map(|v| v as usize).ok_or_else(|| Error::Invalid(format!("metadata has no integer {key}: {meta}")))
}

/// `meta[key]` (or `meta` itself when `key` is empty) as a number.
pub fn float(meta: &Value, key: &str) -> Result<f32> {
    let v = if key.is_empty() { meta } else { &meta[key] };
    v.as_f64().map(|v| v as f32).ok_or_else(|| Error::Invalid(format!("metadata has no number {key}: {meta}")))
}
