//! Datasets of images on the host: folder-per-class trees, the COVIDx CXR and CT label files,
//! stratified seeded splits, image decoding and preprocessing (`image`), train-time augmentation
//! (`augment`), a background-thread batch loader (`loader`) and the synthetic demo data (`synth`).
//! Nothing here touches the GPU: batches come out as NCHW f32 on the host.

pub mod augment;
pub mod image;
pub mod loader;
pub mod synth;

pub use self::augment::Augment;
pub use self::image::{load, Normalize};
pub use self::loader::{Batch, Loader, LoaderCfg};

use crate::error::{Error, Result};
use crate::rng::{self, Rng};
use std::path::{Path, PathBuf};

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

const IMAGE_EXTS: [&str; 3] = ["png", "jpg", "jpeg"];

fn io_err(path: &Path, err: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), err }
}

/// Sorted entries of a directory (sorted so that every listing is deterministic).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        out.push(entry.map_err(|e| io_err(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    path.is_file() && IMAGE_EXTS.iter().any(|x| ext.eq_ignore_ascii_case(x))
}

/// Splits `line` into its first `head` tokens, a middle part and its last `tail` tokens; the
/// middle keeps its inner spaces (file names may contain them). None if there are too few tokens.
fn split_fields(line: &str, head: usize, tail: usize) -> Option<(Vec<&str>, &str, Vec<&str>)> {
    let mut rest = line.trim();
    let mut first = Vec::new();
    for _ in 0..head {
        let end = rest.find(char::is_whitespace)?;
        first.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    let mut last = Vec::new();
    for _ in 0..tail {
        let start = rest.rfind(char::is_whitespace)?;
        last.push(rest[start..].trim_start());
        rest = rest[..start].trim_end();
    }
    last.reverse();
    (!rest.is_empty()).then_some((first, rest, last))
}

/// Non-empty, non-comment lines of a label file with their 1-based line numbers.
fn label_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn read_label_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| io_err(path, e))
}

fn check_image_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "image folder {} does not exist; pass the folder that holds the images of the label file",
            dir.display()
        )))
    }
}

fn image_path(dir: &Path, name: &str, file: &Path, line: usize) -> Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Invalid(format!(
            "{}:{line}: image {} does not exist; check the image folder or remove the line",
            file.display(),
            path.display()
        )))
    }
}

impl Dataset {
    /// `root/<class>/*.{png,jpg,jpeg}` (extension case-insensitive); classes are the sorted
    /// sub-folder names (hidden ones, starting with '.', are ignored), files sorted by name.
    pub fn folder(root: &Path) -> Result<Dataset> {
        if !root.is_dir() {
            return Err(Error::Invalid(format!(
                "dataset folder {} does not exist; expected {0}/<class>/<image>.png",
                root.display()
            )));
        }
        let mut ds = Dataset { classes: Vec::new(), samples: Vec::new() };
        for dir in sorted_entries(root)? {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !dir.is_dir() || name.starts_with('.') {
                continue;
            }
            let label = ds.classes.len() as u32;
            let before = ds.samples.len();
            for path in sorted_entries(&dir)?.into_iter().filter(|p| is_image(p)) {
                ds.samples.push(Sample { path, label, crop: None });
            }
            if ds.samples.len() == before {
                return Err(Error::Invalid(format!(
                    "class folder {} holds no .png/.jpg/.jpeg images; add images or remove the folder",
                    dir.display()
                )));
            }
            ds.classes.push(name);
        }
        if ds.classes.is_empty() {
            return Err(Error::Invalid(format!(
                "dataset folder {} has no class sub-folders; expected {0}/<class>/<image>.png",
                root.display()
            )));
        }
        Ok(ds)
    }

    /// COVIDx CXR label file (`<split>_split.txt`): lines `patient_id filename label source`,
    /// whitespace separated (the file name may contain spaces); images in `image_dir`.
    /// Classes are the sorted distinct labels unless `classes` is given, in which case an
    /// unknown label is an error naming the line.
    pub fn covidx_cxr(label_file: &Path, image_dir: &Path, classes: Option<&[String]>) -> Result<Dataset> {
        check_image_dir(image_dir)?;
        let text = read_label_file(label_file)?;
        let mut rows = Vec::new();
        for (line, l) in label_lines(&text) {
            let (_, name, tail) = split_fields(l, 1, 2).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}:{line}: expected `patient_id filename label source`, got `{l}`",
                    label_file.display()
                ))
            })?;
            rows.push((line, image_path(image_dir, name, label_file, line)?, tail[0]));
        }
        let classes: Vec<String> = match classes {
            Some(c) => c.to_vec(),
            None => {
                let mut c: Vec<String> = rows.iter().map(|r| r.2.to_string()).collect();
                c.sort();
                c.dedup();
                c
            }
        };
        let mut samples = Vec::with_capacity(rows.len());
        for (line, path, label) in rows {
            let label = classes.iter().position(|c| c == label).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}:{line}: label `{label}` is not one of the classes {classes:?}; fix the line or the class list",
                    label_file.display()
                ))
            })?;
            samples.push(Sample { path, label: label as u32, crop: None });
        }
        Dataset { classes, samples }.non_empty(label_file)
    }

    /// COVIDx CT-2A label file (`<split>_COVIDx_CT-2A.txt`): lines
    /// `filename class xmin ymin xmax ymax` with an integer class (0 normal, 1 pneumonia,
    /// 2 COVID-19) and the body's bounding box, which becomes the sample's crop. Class names
    /// default to `["normal", "pneumonia", "covid"]`.
    pub fn covidx_ct(label_file: &Path, image_dir: &Path, classes: Option<&[String]>) -> Result<Dataset> {
        check_image_dir(image_dir)?;
        let classes: Vec<String> = match classes {
            Some(c) => c.to_vec(),
            None => ["normal", "pneumonia", "covid"].map(String::from).to_vec(),
        };
        let text = read_label_file(label_file)?;
        let mut samples = Vec::new();
        for (line, l) in label_lines(&text) {
            let bad = |what: &str| {
                Error::Invalid(format!(
                    "{}:{line}: {what} in `{l}`; expected `filename class xmin ymin xmax ymax` \
                     with class in 0..{}",
                    label_file.display(),
                    classes.len()
                ))
            };
            let (_, name, tail) = split_fields(l, 0, 5).ok_or_else(|| bad("too few fields"))?;
            let nums: Vec<u32> = tail
                .iter()
                .map(|t| t.parse::<u32>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad("class and box must be non-negative integers"))?;
            if nums[0] as usize >= classes.len() {
                return Err(bad(&format!("class index {} is out of range", nums[0])));
            }
            if nums[1] >= nums[3] || nums[2] >= nums[4] {
                return Err(bad("empty box (need xmin < xmax and ymin < ymax)"));
            }
            let path = image_path(image_dir, name, label_file, line)?;
            samples.push(Sample { path, label: nums[0], crop: Some([nums[1], nums[2], nums[3], nums[4]]) });
        }
        Dataset { classes, samples }.non_empty(label_file)
    }

    fn non_empty(self, label_file: &Path) -> Result<Dataset> {
        if self.samples.is_empty() {
            return Err(Error::Invalid(format!("label file {} lists no images", label_file.display())));
        }
        Ok(self)
    }

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

const SPLITS: [&str; 3] = ["train", "val", "test"];

/// Whether `root` has any of the split folders train/, val/ and test/; without them it is one
/// flat folder-per-class dataset, which `open_splits` splits itself.
pub fn has_split_folders(root: &Path) -> bool {
    SPLITS.iter().any(|n| root.join(n).is_dir())
}

/// Image files (.png/.jpg/.jpeg, any case) under `dir` and its sub-folders, sorted by path;
/// hidden entries (starting with '.') are left out.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in sorted_entries(dir)? {
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            out.extend(image_files(&path)?);
        } else if is_image(&path) {
            out.push(path);
        }
    }
    Ok(out)
}

/// Opens a dataset folder that is either already split (`root/{train,val,test}/<class>/...`,
/// all three with the same class folders) or flat (`root/<class>/...`, then split 70/15/15,
/// stratified, with `seed`).
pub fn open_splits(root: &Path, seed: u64) -> Result<(Dataset, Dataset, Dataset)> {
    let present: Vec<&str> = SPLITS.iter().copied().filter(|n| root.join(n).is_dir()).collect();
    if present.is_empty() {
        return Ok(Dataset::folder(root)?.split(0.7, 0.15, seed));
    }
    if present.len() < 3 {
        return Err(Error::Invalid(format!(
            "{} has {present:?} but not all of train/, val/ and test/; add the missing split folders \
             or use a flat <class>/ layout that heft splits itself",
            root.display()
        )));
    }
    let [train, val, test] = SPLITS.map(|n| Dataset::folder(&root.join(n)));
    let (train, val, test) = (train?, val?, test?);
    for (name, ds) in [("val", &val), ("test", &test)] {
        if ds.classes != train.classes {
            return Err(Error::Invalid(format!(
                "{}/{name} has classes {:?} but {0}/train has {:?}; give every split the same class folders",
                root.display(),
                ds.classes,
                train.classes
            )));
        }
    }
    Ok((train, val, test))
}
