//! Classification metrics from a confusion matrix: accuracy, per-class precision, recall and F1,
//! macro F1, a serialisable summary and a plain-text table of it. Undefined ratios (a class
//! never predicted, or without samples) count as 0, like scikit-learn's `zero_division=0`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Counts of (true class, predicted class) pairs: `counts[truth][pred]`.
#[derive(Clone, Debug, Serialize)]
pub struct Confusion {
    pub classes: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassStats>,
    pub confusion: Vec<Vec<u64>>,
    pub classes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassStats {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of samples whose true class is this one.
    pub support: u64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl Confusion {
    pub fn new(classes: &[String]) -> Confusion {
        let n = classes.len();
        Confusion { classes: classes.to_vec(), counts: vec![vec![0; n]; n] }
    }

    fn out_of_range(&self, what: &str, label: u32) -> Error {
        let n = self.classes.len();
        Error::Invalid(format!("{what} label {label} is out of range: there are {n} classes (0..{n})"))
    }

    fn check(&self, what: &str, label: u32) -> Result<usize> {
        match label as usize {
            l if l < self.classes.len() => Ok(l),
            _ => Err(self.out_of_range(what, label)),
        }
    }

    pub fn add(&mut self, truth: u32, pred: u32) -> Result<()> {
        let (t, p) = (self.check("true", truth)?, self.check("predicted", pred)?);
        self.counts[t][p] += 1;
        Ok(())
    }

    /// Add a batch: `logits` holds one row of `classes` scores per label in `truth`; the
    /// prediction is the row's argmax (the first maximum on ties; NaN scores never win).
    /// Nothing is added when any label or size is wrong.
    pub fn add_batch(&mut self, truth: &[u32], logits: &[f32], classes: usize) -> Result<()> {
        let n = self.classes.len();
        if n == 0 {
            return Err(Error::Invalid("the confusion matrix has no classes".into()));
        }
        if classes != n {
            return Err(Error::Invalid(format!("logits have {classes} classes but the confusion matrix has {n}")));
        }
        if logits.len() != truth.len() * n {
            return Err(Error::Invalid(format!(
                "{} logits do not make {} rows of {n} classes",
                logits.len(),
                truth.len()
            )));
        }
        if let Some(i) = truth.iter().position(|&t| t as usize >= n) {
            return Err(self.out_of_range(&format!("sample {i}: true"), truth[i]));
        }
        for (&t, row) in truth.iter().zip(logits.chunks_exact(n)) {
            self.counts[t as usize][argmax(row)] += 1;
        }
        Ok(())
    }

    /// Add counts [truth·C + predicted] (as the GPU's `ops::confusion` keeps them).
    pub fn add_counts(&mut self, counts: &[f32]) -> Result<()> {
        let n = self.classes.len();
        if counts.len() != n * n {
            return Err(Error::Invalid(format!("{} counts do not make a {n}×{n} confusion matrix", counts.len())));
        }
        for (i, &c) in counts.iter().enumerate() {
            self.counts[i / n][i % n] += c as u64;
        }
        Ok(())
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        ratio((0..self.classes.len()).map(|c| self.correct(c)).sum(), self.total())
    }

    fn correct(&self, c: usize) -> u64 {
        self.counts.get(c).and_then(|row| row.get(c)).copied().unwrap_or(0)
    }

    /// Samples of true class `c` (0 for a class that does not exist).
    pub fn support(&self, c: usize) -> u64 {
        self.counts.get(c).map_or(0, |row| row.iter().sum())
    }

    /// Samples predicted as class `c`.
    pub fn predicted(&self, c: usize) -> u64 {
        self.counts.iter().filter_map(|row| row.get(c)).sum()
    }

    pub fn precision(&self, c: usize) -> f64 {
        ratio(self.correct(c), self.predicted(c))
    }

    pub fn recall(&self, c: usize) -> f64 {
        ratio(self.correct(c), self.support(c))
    }

    pub fn f1(&self, c: usize) -> f64 {
        let (p, r) = (self.precision(c), self.recall(c));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Unweighted mean of the per-class F1 over all classes (0 without classes).
    pub fn macro_f1(&self) -> f64 {
        let n = self.classes.len();
        if n == 0 {
            0.0
        } else {
            (0..n).map(|c| self.f1(c)).sum::<f64>() / n as f64
        }
    }

    pub fn summary(&self) -> Summary {
        let per_class = (self.classes.iter().enumerate())
            .map(|(c, name)| ClassStats {
                class: name.clone(),
                precision: self.precision(c),
                recall: self.recall(c),
                f1: self.f1(c),
                support: self.support(c),
            })
            .collect();
        Summary {
            accuracy: self.accuracy(),
            macro_f1: self.macro_f1(),
            per_class,
            confusion: self.counts.clone(),
            classes: self.classes.clone(),
        }
    }
}

/// The predicted class of one row of scores: the first maximum on ties; NaN scores never win
/// (0 for a row of NaNs or an empty row).
pub fn argmax(row: &[f32]) -> usize {
    let wins = |j: usize, best: usize| row[j] > row[best] || (row[best].is_nan() && !row[j].is_nan());
    (1..row.len()).fold(0, |best, j| if wins(j, best) { j } else { best })
}

/// Human table: per-class precision/recall/F1/support, accuracy, macro F1, and the confusion
/// matrix with class names (rows true, columns predicted).
pub fn format_summary(s: &Summary) -> String {
    let name_w = s.classes.iter().map(|c| c.chars().count()).chain([5, 11]).max().unwrap_or(11);
    let mut out = format!("{:<name_w$}  precision  recall      f1  support\n", "class");
    for k in &s.per_class {
        let (p, r, f, n) = (k.precision, k.recall, k.f1, k.support);
        let _ = writeln!(out, "{:<name_w$}  {p:>9.4}  {r:>6.4}  {f:>6.4}  {n:>7}", k.class);
    }
    let total: u64 = s.confusion.iter().flatten().sum();
    let correct: u64 = s.confusion.iter().enumerate().filter_map(|(i, row)| row.get(i)).sum();
    let _ = writeln!(out, "\naccuracy {:.4} ({correct} of {total})   macro F1 {:.4}", s.accuracy, s.macro_f1);

    let max = s.confusion.iter().flatten().max().copied().unwrap_or(0);
    let col_w = s.classes.iter().map(|c| c.chars().count()).chain([max.to_string().len()]).max().unwrap_or(1);
    let _ = write!(out, "\nconfusion matrix (rows: true, columns: predicted)\n{:<name_w$}", "true \\ pred");
    for c in &s.classes {
        let _ = write!(out, "  {c:>col_w$}");
    }
    for (name, row) in s.classes.iter().zip(&s.confusion) {
        let _ = write!(out, "\n{name:<name_w$}");
        for n in row {
            let _ = write!(out, "  {n:>col_w$}");
        }
    }
    out.push('\n');
    out
}
