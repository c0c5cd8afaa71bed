//! `heft export --samples N`: test images beside the ONNX file, with heft's logits for them and
//! their labels, so an HE runtime's output can be checked against heft's (`tools/he/`).

use crate::error::{Error, Result};
use crate::nn::model::Model;

/// Write `n` images of `ds` (in a fixed shuffled order), the model's logits for them (eval mode)
/// and their labels as safetensors (`x`, `logits`, `labels` u32) to the new file `path` (an existing one is refused, not replaced); returns the
/// number of images written.
pub fn write_sample(model: &Model, ds: &crate::data::Dataset, norm: crate::data::image::Normalize, n: usize, path: &std::path::Path) -> Result<usize> {
    use crate::data::loader::{Loader, LoaderCfg};
    use crate::nn::eval::{forward_batches, Keep};
    let c = &model.config;
    // a fixed shuffle, so that N images of a class-sorted split hold every class
    let cfg = LoaderCfg { shuffle: true, seed: 0, ..LoaderCfg::inference(c.input, c.in_channels, n, norm) };
    let mut sample = None;
    forward_batches(model, Loader::new(ds, cfg, 0).take(1), Keep::default(), |s| {
        sample = Some((s.batch.clone(), s.logits.to_f32()?));
        Ok(())
    })?;
    let (b, logits) = sample.ok_or_else(|| Error::Invalid("the dataset has no readable test image".into()))?;
    use crate::safetensors_file::{Named, Values};
    let tensors = [
        Named { name: "x", shape: &[b.n, c.in_channels, c.input, c.input], values: Values::F32(&b.x) },
        Named { name: "logits", shape: &[b.n, c.classes], values: Values::F32(&logits) },
        Named { name: "labels", shape: &[b.n], values: Values::U32(&b.labels) },
    ];
    crate::safetensors_file::write_new(path, tensors, None)?;
    Ok(b.n)
}
