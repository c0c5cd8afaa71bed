//! An experiment file (TOML): the dataset, the seeds, a base recipe and a list of named runs
//! that override it. Parsing refuses unknown keys, and every error names the file, the line and
//! the key (or the run); `load` returns runs whose settings are complete and checked, so a bad
//! grid fails before any training.

use super::settings::{Settings, Weights};
use crate::data::Format;
use crate::error::{Error, Result};
use crate::nn::convert::Schedule;
use crate::nn::model::{Arch, ModelConfig, StudentConfig};
use crate::recipe::Recipe;
use crate::train::{Phase, Source};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    out: Option<String>,
    seeds: Vec<u64>,
    data: DataSpec,
    base: Option<Spanned<Settings>>,
    #[serde(default)]
    run: Vec<Spanned<Settings>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataSpec {
    path: String,
    format: Option<Format>,
    images: Option<String>,
    input: usize,
    channels: Option<usize>,
    strict: Option<bool>,
    split_seed: Option<u64>,
}

/// Where the images come from (paths resolved against the experiment file's folder; the
/// split seed is the same for every run and seed, so a student is tested on images its teacher
/// never trained on), and the networks' input.
#[derive(Clone, Debug)]
pub struct DataSource {
    pub source: Source,
    pub input: usize,
    pub channels: usize,
}

/// A network as a run declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub arch: Arch,
    pub width: f32,
    pub hidden: usize,
    pub conv1_pad: usize,
    pub batchnorm: bool,
}

impl ModelSpec {
    pub fn config(&self, classes: Vec<String>, data: &DataSource) -> ModelConfig {
        let base = ModelConfig::new(self.arch, classes, data.channels, data.input);
        ModelConfig { width: self.width, hidden: self.hidden, conv1_pad: self.conv1_pad, batchnorm: self.batchnorm, ..base }
    }
}

#[derive(Clone, Debug)]
pub enum RunKind {
    Teacher { model: ModelSpec, pretrained: Option<PathBuf> },
    Student { from: StudentStart, config: StudentConfig, distil: bool },
}

/// Where a student's weights come from.
#[derive(Clone, Debug)]
pub enum StudentStart {
    /// The checkpoints of this teacher run (the method).
    Teacher(String),
    /// A fresh network; `compare_with` names a teacher run for the gap column only.
    Scratch { model: ModelSpec, compare_with: Option<String> },
}

/// One run of the grid, complete: `recipe.seed` is set per seed by the runner.
#[derive(Clone, Debug)]
pub struct Run {
    /// Position in the file (0-based; `--run INDEX`, the Slurm array index).
    pub index: usize,
    pub name: String,
    pub line: usize,
    pub kind: RunKind,
    pub recipe: Recipe,
}

impl Run {
    /// The file prefix of the run's outputs (`teacher.safetensors`, `student_metrics.jsonl`, ...).
    pub fn phase(&self) -> Phase {
        match self.kind {
            RunKind::Teacher { .. } => Phase::Teacher,
            RunKind::Student { .. } => Phase::Student,
        }
    }

    /// The teacher run it is compared with, if any.
    pub fn teacher(&self) -> Option<&str> {
        match &self.kind {
            RunKind::Student { from: StudentStart::Teacher(t), .. } => Some(t),
            RunKind::Student { from: StudentStart::Scratch { compare_with, .. }, .. } => compare_with.as_deref(),
            RunKind::Teacher { .. } => None,
        }
    }

    /// The teacher run whose checkpoints it starts from, which must finish first (not a
    /// from-scratch run's, named only for the comparison).
    pub fn needs(&self) -> Option<&str> {
        match &self.kind {
            RunKind::Student { from: StudentStart::Teacher(t), .. } => Some(t),
            _ => None,
        }
    }
}

pub struct Experiment {
    pub file: PathBuf,
    /// Output folder from the file's `out` (None: the caller's default).
    pub out: Option<PathBuf>,
    pub seeds: Vec<u64>,
    pub data: DataSource,
    pub runs: Vec<Run>,
}

impl Experiment {
    pub fn run(&self, name: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.name == name)
    }

    /// The run `sel` names, by name or by its index in the file.
    pub fn select(&self, sel: &str) -> Result<&Run> {
        let by_index = sel.parse::<usize>().ok().and_then(|i| self.runs.get(i));
        by_index.or_else(|| self.run(sel)).ok_or_else(|| {
            let names: Vec<String> = self.runs.iter().map(|r| format!("{} {}", r.index, r.name)).collect();
            Error::Invalid(format!("{}: no run {sel:?}; the runs are: {}", self.file.display(), names.join(", ")))
        })
    }
}

/// 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A TOML error as `FILE:LINE: key `k`: message`.
fn parse_error(file: &Path, text: &str, e: &toml::de::Error) -> Error {
    let Some(span) = e.span() else {
        return Error::Invalid(format!("{}: {}", file.display(), e.message()));
    };
    let line = line_of(text, span.start);
    let source = text.lines().nth(line - 1).unwrap_or("");
    let key = source.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('['));
    let key = key.map(|k| format!("key `{k}`: ")).unwrap_or_default();
    Error::Invalid(format!("{}:{line}: {key}{}", file.display(), e.message().trim_end()))
}

/// Read and check the experiment file at `file`.
pub fn load(file: &Path) -> Result<Experiment> {
    let text = std::fs::read_to_string(file).map_err(|err| Error::Io { path: file.display().to_string(), err })?;
    parse(file, &text)
}

/// Check the experiment `text` (read from `file`, whose folder relative paths start from).
pub fn parse(file: &Path, text: &str) -> Result<Experiment> {
    let spec: FileSpec = toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
    let at = |line: usize, msg: String| Error::Invalid(format!("{}:{line}: {msg}", file.display()));
    let dir = file.parent().unwrap_or(Path::new(""));
    // `.` and `./x` name the file's folder and what is in it, without a `./` in every path
    let path = |p: &str| Path::new(p).components().filter(|c| *c != std::path::Component::CurDir).fold(dir.to_path_buf(), |d, c| d.join(c));
    if spec.seeds.is_empty() || spec.seeds.iter().collect::<HashSet<_>>().len() != spec.seeds.len() {
        return Err(Error::Invalid(format!("{}: `seeds` must list at least one seed, none twice", file.display())));
    }
    if spec.run.is_empty() {
        return Err(Error::Invalid(format!("{}: no runs: add a [[run]] table with a `name`", file.display())));
    }
    let base = spec.base.as_ref().map(|b| b.get_ref().clone()).unwrap_or_default();
    if let Some(b) = &spec.base {
        if let Some(n) = base.run_only_key() {
            return Err(at(line_of(text, b.span().start), format!("[base] cannot set `{n}`: it belongs in a [[run]]")));
        }
    }
    let d = spec.data;
    let source = Source {
        data: path(&d.path),
        format: d.format.unwrap_or(Format::Folder),
        images: d.images.as_deref().map(path),
        strict: d.strict.unwrap_or(false),
        split_seed: d.split_seed.unwrap_or(123),
    };
    let data = DataSource { source, input: d.input, channels: d.channels.unwrap_or(1) };
    let mut runs = Vec::new();
    let mut names = HashSet::new();
    for (index, spanned) in spec.run.iter().enumerate() {
        let (line, r) = (line_of(text, spanned.span().start), spanned.get_ref());
        let name = r.name.clone().ok_or_else(|| at(line, "a [[run]] needs a `name`".into()))?;
        let bad = |msg: String| at(line, format!("run `{name}`: {msg}"));
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !name.chars().all(|c| c.is_ascii_digit()) && !name.starts_with('.');
        if !valid {
            return Err(bad("a name is letters, digits, '-', '_' and '.' (a folder name), not only digits".into()));
        }
        if !names.insert(name.clone()) {
            return Err(bad("a second run with this name".into()));
        }
        for (table, span) in [(r, spanned.span())].into_iter().chain(spec.base.as_ref().map(|b| (b.get_ref(), b.span()))) {
            table.check_recipe_keys().map_err(|(key, msg)| at(key_line(text, span, &key), format!("key `{key}`: {msg}")))?;
        }
        let kind = resolve_kind(r, &base, &path).map_err(|e| bad(e.to_string()))?;
        let recipe = r.over(&base).recipe().map_err(|e| bad(e.to_string()))?;
        runs.push(Run { index, name, line, kind, recipe });
    }
    check_teachers(&runs, file)?;
    Ok(Experiment { file: file.to_path_buf(), out: spec.out.as_deref().map(path), seeds: spec.seeds, data, runs })
}

/// 1-based line of `key = ...` in the table whose header starts at `span` in `text` (up to the
/// next table header; the header's line if not found).
fn key_line(text: &str, span: std::ops::Range<usize>, key: &str) -> usize {
    let mut offset = span.start;
    for (i, line) in text[span.start.min(text.len())..].split_inclusive('\n').enumerate() {
        let line_text = line.trim_start();
        if i > 0 && line_text.starts_with('[') {
            break;
        }
        if line_text.strip_prefix(key).map(str::trim_start).is_some_and(|r| r.starts_with('=')) {
            return line_of(text, offset);
        }
        offset += line.len();
    }
    line_of(text, span.start)
}

/// What a run trains, from its own keys over [base].
fn resolve_kind(r: &Settings, base: &Settings, path: &dyn Fn(&str) -> PathBuf) -> Result<RunKind> {
    let s = r.over(base);
    let student = r.student.unwrap_or(false);
    if !student {
        if let Some(k) = r.student_key() {
            return Err(Error::Invalid(format!("`{k}` applies to students only: add `student = true`")));
        }
        return Ok(RunKind::Teacher { model: s.model_spec()?, pretrained: s.pretrained.as_deref().map(path) });
    }
    if r.pretrained.is_some() {
        return Err(Error::Invalid("`pretrained` applies to teachers only".into()));
    }
    let weights = s.weights.unwrap_or(Weights::Teacher);
    let teacher = r.teacher.clone();
    let distil = s.kd.unwrap_or(weights == Weights::Teacher);
    let from = match (weights, teacher) {
        (Weights::Teacher, None) => return Err(Error::Invalid("a student needs `teacher = \"<run>\"` (or `weights = \"scratch\"`)".into())),
        (Weights::Teacher, Some(t)) => match r.model_key() {
            Some(k) => return Err(Error::Invalid(format!("`{k}`: a student copies its teacher's network; only a `weights = \"scratch\"` run sets its own"))),
            None => StudentStart::Teacher(t),
        },
        (Weights::Scratch, _) if distil => {
            return Err(Error::Invalid("`kd = true` with `weights = \"scratch\"` is not supported: distillation starts from the teacher's weights".into()))
        }
        (Weights::Scratch, compare_with) => StudentStart::Scratch { model: s.model_spec()?, compare_with },
    };
    let config = StudentConfig {
        act: s.act.unwrap_or(crate::nn::convert::StudentAct::Poly).into(),
        init: s.init.unwrap_or(StudentConfig::default().init),
        batchnorm: s.batchnorm.unwrap_or(true),
        linear: vec![],
    };
    Ok(RunKind::Student { from, config, distil })
}

/// Every named teacher is a teacher run of this file.
fn check_teachers(runs: &[Run], file: &Path) -> Result<()> {
    for r in runs {
        let Some(t) = r.teacher() else { continue };
        let problem = match runs.iter().find(|x| x.name == t) {
            None => "no run has this name",
            Some(x) if !matches!(x.kind, RunKind::Teacher { .. }) => "that run is a student; a teacher is a run without `student = true`",
            Some(_) => continue,
        };
        return Err(Error::Invalid(format!("{}:{}: run `{}`: teacher `{t}`: {problem}", file.display(), r.line, r.name)));
    }
    Ok(())
}

impl Settings {
    /// The schedule and recipe of these (merged) settings, checked.
    fn recipe(&self) -> Result<Recipe> {
        let mut recipe = Recipe::deserialize(toml::Value::Table(self.recipe.clone())).map_err(|e| Error::Invalid(e.message().trim_end().into()))?;
        let kind = self.schedule.unwrap_or(crate::nn::convert::ScheduleKind::All);
        recipe.schedule = Schedule::new(kind, self.start.unwrap_or(0), self.every.unwrap_or(1))?;
        recipe.check()?;
        Ok(recipe)
    }

    fn model_spec(&self) -> Result<ModelSpec> {
        let arch = self.model.ok_or_else(|| Error::Invalid("no `model`: set it in [base] or in the run".into()))?;
        let d = ModelConfig::new(arch, vec![], 1, 16);
        let batchnorm = self.batchnorm.unwrap_or(false);
        Ok(ModelSpec { arch, width: self.width.unwrap_or(d.width), hidden: self.hidden.unwrap_or(d.hidden), conv1_pad: self.conv1_pad.unwrap_or(d.conv1_pad), batchnorm })
    }
}
