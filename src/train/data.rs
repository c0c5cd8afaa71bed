//! The data of a training run: the three splits, how their images become tensors, and the
//! class weights of the loss.

use crate::data::loader::{Loader, LoaderCfg};
use crate::data::{augment::Augment, image::Normalize, Dataset};
use crate::error::Result;
use crate::nn::model::Model;
use crate::tensor::Tensor;
use crate::Gpu;

/// The three splits and how images become tensors.
pub struct Data {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
    pub norm: Normalize,
    pub strict: bool,
}

impl Data {
    /// Training order (shuffled, augmented when asked) or evaluation order. A training epoch
    /// drops a last batch of a single image: batch norm needs two values per channel.
    pub(crate) fn loader(&self, ds: &Dataset, model: &Model, batch: usize, train: Option<(Option<Augment>, u64, u64)>) -> Loader {
        let (augment, seed, epoch) = train.unwrap_or((None, 0, 0));
        let cfg = LoaderCfg {
            size: model.config.input,
            channels: model.config.in_channels,
            batch,
            shuffle: train.is_some(),
            augment,
            norm: self.norm,
            seed,
            strict: self.strict,
            reject_truncated: self.strict,
            drop_last: train.is_some() && ds.len() % batch == 1,
        };
        Loader::new(ds, cfg, epoch)
    }
}

/// Class weights of the cross-entropy: inverse class frequency of `ds` when `on` (normalised
/// to average 1), else all 1.
pub(crate) fn class_weights(gpu: &Gpu, ds: &Dataset, on: bool) -> Result<Tensor> {
    let counts = ds.class_counts();
    let w: Vec<f32> = counts.iter().map(|&c| if on && c > 0 { 1.0 / c as f32 } else { 1.0 }).collect();
    let sum: f32 = w.iter().sum();
    Tensor::from_f32(gpu, &w.iter().map(|v| v * w.len() as f32 / sum).collect::<Vec<_>>(), &[w.len()])
}
