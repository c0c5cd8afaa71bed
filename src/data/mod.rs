//! Datasets of images on the host: the `Dataset` type with its stratified seeded splits here;
//! folder-per-class trees (`folder`), the COVIDx CXR and CT label files (`labels`), image
//! decoding and preprocessing (`image`), train-time augmentation (`augment`), a
//! background-thread batch loader (`loader`) and the synthetic demo data (`synth`).
//! Nothing here touches the GPU: batches come out as NCHW f32 on the host.

pub mod augment;
mod folder;
pub mod image;
mod labels;
pub mod loader;
pub mod synth;

pub use self::augment::Augment;
pub use self::folder::{has_split_folders, image_files, open_splits};
pub use self::image::{load, Normalize};
pub use self::loader::{Batch, Loader, LoaderCfg};

use crate::error::Error;
use crate::rng::{self, Rng};
use std::path::{Path, PathBuf};

/// How a dataset is laid out on disk (the command line's `--format`, an experiment file's
/// `data.format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// root/{train,val,test}/<class>/*.png|jpg, or root/<class>/... (split 70/15/15)
    Folder,
    /// COVIDx CXR: root/<split>_split.txt (`patient_id filename label source`), images in root/<split>/
    Cxr,
    /// COVIDx CT-2A: root/<split>_COVIDx_CT-2A.txt (`filename class xmin ymin xmax ymax`), images in root/2A_images/
    Ct,
}

/// One labelled image.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub path: PathBuf,
    pub label: u32,
    /// Box to cut out before resizing: `[xmin, ymin, xmax, ymax]` in pixels, max exclusive.
    pub crop: Option<[u32; 4]>,
}

/// A list of labelled images and the names of their classes (label `i` is `classes[i]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub classes: Vec<String>,
    pub samples: Vec<Sample>,
}

/// A file-system error naming the path it happened on.
fn io_err(path: &Path, err: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), err }
}

impl Dataset {
    /// Splits into (train, val, test) with fractions `train`, `val` and the rest, stratified:
    /// each class's samples are shuffled with `seed` and divided with rounding, so every class
    /// keeps its share. Each part keeps the dataset's order. Fractions are clamped to [0, 1]
    /// and `val` to at most `1 - train` (callers validate user input).
    pub fn split(&self, train: f64, val: f64, seed: u64) -> (Dataset, Dataset, Dataset) {
        let clamp = |x: f64, hi: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, hi) };
        let train = clamp(train, 1.0);
        let val = clamp(val, 1.0 - train);
        let mut rng = Rng::new(rng::derive(&[seed, 0x5EED_5B17]));
        let mut parts: [Vec<usize>; 3] = Default::default();
        for class in 0..self.classes.len() as u32 {
            let mut idx: Vec<usize> = (0..self.len()).filter(|&i| self.samples[i].label == class).collect();
            rng.shuffle(&mut idx);
            let n = idx.len();
            let n_train = ((n as f64 * train).round() as usize).min(n);
            let n_val = ((n as f64 * val).round() as usize).min(n - n_train);
            parts[0].extend_from_slice(&idx[..n_train]);
            parts[1].extend_from_slice(&idx[n_train..n_train + n_val]);
            parts[2].extend_from_slice(&idx[n_train + n_val..]);
        }
        let [a, b, c] = parts.map(|mut p| {
            p.sort_unstable();
            Dataset { classes: self.classes.clone(), samples: p.iter().map(|&i| self.samples[i].clone()).collect() }
        });
        (a, b, c)
    }

    /// The samples of `parts` one after another, with the classes of the first (callers check
    /// that the parts share their classes).
    pub fn concat(parts: &[&Dataset]) -> Dataset {
        Dataset {
            classes: parts.first().map(|d| d.classes.clone()).unwrap_or_default(),
            samples: parts.iter().flat_map(|d| d.samples.iter().cloned()).collect(),
        }
    }

    /// Number of samples of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for s in &self.samples {
            if let Some(c) = counts.get_mut(s.label as usize) {
                *c += 1;
            }
        }
        counts
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

