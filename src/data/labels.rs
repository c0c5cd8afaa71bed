//! Label-file datasets: the COVIDx CXR (`<split>_split.txt`) and CT-2A
//! (`<split>_COVIDx_CT-2A.txt`) formats, one image per line, with errors that name the line.

use super::{io_err, Dataset, Sample};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

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
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::Invalid(format!("{}:{line}: the label file is not UTF-8 text (byte {at}); save it as UTF-8", path.display()))
    })
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

}
