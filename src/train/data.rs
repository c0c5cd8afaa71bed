//! The data of a training run: where it comes from (`Source`, the `--data`/`--format` flags),
//! the three splits opened from it, how their images become tensors, and the class weights of
//! the loss.

use crate::data::loader::{Loader, LoaderCfg};
use crate::data::{augment::Augment, image::Normalize, open_splits, Dataset, Format};
use crate::error::{Error, Result};
use crate::nn::model::Model;
use crate::tensor::Tensor;
use crate::Gpu;
use std::path::{Path, PathBuf};

/// A dataset on disk and how to read it.
#[derive(clap::Args, Clone, Debug)]
pub struct Source {
    /// Dataset root.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Folder)]
    pub format: Format,
    /// Image folder for the label-file formats (default: see --format).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Stop at the first unreadable or truncated image instead of skipping it (truncated files
    /// are otherwise used, with a warning, as the decoder fills them in).
    #[arg(long)]
    pub strict: bool,
    /// Seed of the train/val/test split when the dataset has none (a folder of class folders):
    /// kept apart from --seed so that runs with other seeds (a student and its teacher, the
    /// seeds of an experiment) see the same test images.
    #[arg(long, default_value_t = 123)]
    pub split_seed: u64,
}

impl Source {
    /// `root` read as `format` with the default image folder, leniently, split seed 123 (for
    /// commands that only read: he-report, export).
    pub fn lenient(root: &Path, format: Format) -> Source {
        Source { data: root.to_path_buf(), format, images: None, strict: false, split_seed: 123 }
    }
}

/// Refuse splits whose class lists differ.
pub fn same_classes(splits: &[&Dataset]) -> Result<()> {
    for s in splits {
        if s.classes != splits[0].classes {
            return Err(Error::Invalid(format!("the splits have different classes: {:?} vs {:?}", splits[0].classes, s.classes)));
        }
    }
    Ok(())
}

/// The three splits and how images become tensors.
pub struct Data {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
    pub norm: Normalize,
    pub strict: bool,
}

impl Data {
    /// The splits of `src` (one line on stderr says what they hold).
    pub fn open(src: &Source) -> Result<Data> {
        let root = &src.data;
        if !root.exists() {
            return Err(Error::Invalid(format!("dataset folder {} does not exist", root.display())));
        }
        let (train, val, test) = match src.format {
            Format::Folder => open_splits(root, src.split_seed)?,
            Format::Cxr | Format::Ct => {
                let label = |split: &str| match src.format {
                    Format::Cxr => root.join(format!("{split}_split.txt")),
                    _ => root.join(format!("{split}_COVIDx_CT-2A.txt")),
                };
                let images = |split: &str| match (&src.images, src.format) {
                    (Some(p), _) => p.clone(),
                    (None, Format::Cxr) => root.join(split),
                    (None, _) => root.join("2A_images"),
                };
                let open = |split: &str, classes: Option<&[String]>| match src.format {
                    Format::Cxr => Dataset::covidx_cxr(&label(split), &images(split), classes),
                    _ => Dataset::covidx_ct(&label(split), &images(split), classes),
                };
                let train = open("train", None)?;
                let classes = train.classes.clone();
                let test = open("test", Some(&classes))?;
                if label("val").exists() {
                    (train, open("val", Some(&classes))?, test)
                } else {
                    // no validation list: hold out 15% of train (seeded, stratified)
                    let (tr, va, _) = train.split(0.85, 0.15, src.split_seed);
                    (tr, va, test)
                }
            }
        };
        same_classes(&[&train, &val, &test])?;
        eprintln!("data: {} classes {:?}; train {}, val {}, test {} images", train.classes.len(), train.classes, train.len(), val.len(), test.len());
        Ok(Data { train, val, test, norm: Normalize::default(), strict: src.strict })
    }

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
