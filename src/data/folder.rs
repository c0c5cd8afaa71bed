//! Folder-per-class datasets: scanning `root/<class>/<image>` trees (sorted, so every listing
//! is deterministic), finding image files, and opening a dataset folder that is either already
//! split into train/, val/ and test/ or flat.

use super::{io_err, Dataset, Sample};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

const IMAGE_EXTS: [&str; 3] = ["png", "jpg", "jpeg"];

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
