//! The one safetensors writer: named f32 or u32 tensors and optional string metadata, serialised
//! and written atomically through `fsx` (checkpoints, epoch states, ONNX samples, parity inputs).

use crate::error::{Error, Result};
use crate::fsx;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// A tensor's values (stored little-endian, as on every platform heft runs on).
#[derive(Clone, Copy)]
pub enum Values<'a> {
    F32(&'a [f32]),
    U32(&'a [u32]),
}

/// A tensor to write: its name, shape and values.
pub struct Named<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub values: Values<'a>,
}

impl<'a> From<&'a (String, Vec<usize>, Vec<f32>)> for Named<'a> {
    fn from((name, shape, values): &'a (String, Vec<usize>, Vec<f32>)) -> Self {
        Named { name, shape, values: Values::F32(values) }
    }
}

/// Write `tensors` (and `metadata`) to `path`, replacing the file there (if any) atomically.
pub fn write<'a>(path: &Path, tensors: impl IntoIterator<Item = impl Into<Named<'a>>>, metadata: Option<HashMap<String, String>>) -> Result<()> {
    fsx::write(path, &serialize(path, tensors, metadata)?)
}

/// Write `tensors` (and `metadata`) to `path` atomically, but never replace a file there.
pub fn write_new<'a>(path: &Path, tensors: impl IntoIterator<Item = impl Into<Named<'a>>>, metadata: Option<HashMap<String, String>>) -> Result<()> {
    fsx::write_new(path, &serialize(path, tensors, metadata)?)
}

fn serialize<'a>(path: &Path, tensors: impl IntoIterator<Item = impl Into<Named<'a>>>, metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
    let bad = |e: safetensors::SafeTensorError| Error::Invalid(format!("{}: {e}", path.display()));
    let views = tensors
        .into_iter()
        .map(|t| {
            let Named { name, shape, values } = t.into();
            let (dtype, bytes): (_, &[u8]) = match values {
                Values::F32(v) => (Dtype::F32, bytemuck::cast_slice(v)),
                Values::U32(v) => (Dtype::U32, bytemuck::cast_slice(v)),
            };
            TensorView::new(dtype, shape.to_vec(), bytes).map(|v| (name.to_string(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(bad)?;
    safetensors::serialize(views, metadata).map_err(bad)
}
