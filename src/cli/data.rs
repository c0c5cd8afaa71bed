//! Opening datasets for the commands: the splits, which images a command uses, checks.

use super::args::{DataArgs, Format, Split};
use heft::data::{image::Normalize, open_splits, Dataset};
use heft::train::Data;
use heft::{Error, Result};
use std::path::Path;

/// The images of `split`; `All` is every split together.
pub fn split_of(d: &Data, split: Split) -> Dataset {
    match split {
        Split::Train => d.train.clone(),
        Split::Val => d.val.clone(),
        Split::Test => d.test.clone(),
        Split::All => Dataset::concat(&[&d.train, &d.val, &d.test]),
    }
}

pub fn same_classes(splits: &[&Dataset]) -> Result<()> {
    for s in splits {
        if s.classes != splits[0].classes {
            return Err(Error::Invalid(format!("the splits have different classes: {:?} vs {:?}", splits[0].classes, s.classes)));
        }
    }
    Ok(())
}

/// A dataset for reading only (he-report, export): default image folder, lenient, split seed 123.
pub fn read_data(root: &Path, format: Format) -> Result<Data> {
    load_data(&DataArgs { data: root.to_path_buf(), format, images: None, strict: false, seed: 123, split_seed: 123 })
}

pub fn load_data(a: &DataArgs) -> Result<Data> {
    let root = &a.data;
    if !root.exists() {
        return Err(Error::Invalid(format!("dataset folder {} does not exist", root.display())));
    }
    let (train, val, test) = match a.format {
        Format::Folder => open_splits(root, a.split_seed)?,
        Format::Cxr | Format::Ct => {
            let label = |split: &str| match a.format {
                Format::Cxr => root.join(format!("{split}_split.txt")),
                _ => root.join(format!("{split}_COVIDx_CT-2A.txt")),
            };
            let images = |split: &str| match (&a.images, a.format) {
                (Some(p), _) => p.clone(),
                (None, Format::Cxr) => root.join(split),
                (None, _) => root.join("2A_images"),
            };
            let open = |split: &str, classes: Option<&[String]>| match a.format {
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
                let (tr, va, _) = train.split(0.85, 0.15, a.split_seed);
                (tr, va, test)
            }
        }
    };
    same_classes(&[&train, &val, &test])?;
    eprintln!(
        "data: {} classes {:?}; train {}, val {}, test {} images",
        train.classes.len(),
        train.classes,
        train.len(),
        val.len(),
        test.len()
    );
    Ok(Data { train, val, test, norm: Normalize::default(), strict: a.strict })
}

