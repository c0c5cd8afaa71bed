//! `heft parity`: train heft and its PyTorch twin side by side from the same initial weights on
//! the same batches of real data, and compare the loss of every step (`heft::check::curve`).
//! heft writes the weights, batches and recipe to the output folder, runs
//! `tools/reference/curve.py` there (compiled into the binary with the twins it imports), and
//! prints where the two curves part and by how much.

use super::args::*;
use super::gpu;
use super::train::timestamp;
use clap::Args;
use heft::check::curve::{self, Parity, Tolerance};
use heft::nn::checkpoint::{self, LoadMode};
use heft::nn::convert::{to_student, ScheduleKind, StudentAct};
use heft::nn::model::Model;
use heft::recipe::Recipe;
use heft::train::Data;
use heft::{fsx, Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The PyTorch side, and the twins it builds, written beside the batches.
const SCRIPTS: [(&str, &str); 2] = [
    ("curve.py", include_str!("../../tools/reference/curve.py")),
    ("heft_models.py", include_str!("../../tools/reference/heft_models.py")),
];

/// Train heft and its PyTorch twin from the same weights on the same batches (training order,
/// no augmentation, no dropout) and compare every step's loss and the eval-mode loss.
#[derive(Args)]
pub struct ParityCmd {
    #[command(flatten)]
    pub data: Source,
    /// The network (a fresh teacher); ignored with --teacher.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Compare the HE-friendly student of this teacher checkpoint, distilled from it, instead
    /// of a fresh teacher (the student flags apply; the schedule must be `all`).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    #[command(flatten)]
    pub student: StudentArgs,
    /// The recipe (--epochs, --no-augment, --quiet and the guard's flags do not apply: parity
    /// runs --steps steps without augmentation).
    #[command(flatten)]
    pub recipe: Recipe,
    /// Folder of its files (default runs/parity-<UTC time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Training steps to compare.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Eval-mode loss on the first --eval-images validation images every this many steps.
    #[arg(long, default_value_t = 10)]
    pub eval_every: usize,
    #[arg(long, default_value_t = 64)]
    pub eval_images: usize,
    /// PyTorch also trains this many copies from weights changed by 1 part in 10^6: how far
    /// they stray from its exact curve is the noise heft is judged by.
    #[arg(long, default_value_t = 4)]
    pub noise_runs: usize,
    /// The curves part at a step where |heft − PyTorch| > TOL_ABS + NOISE_FACTOR × the largest
    /// stray of a perturbed PyTorch run up to that step.
    #[arg(long, default_value_t = 4.0)]
    pub noise_factor: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub tol_abs: f64,
    /// Python with torch and safetensors installed.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// PyTorch's threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Change one recipe value on the PyTorch side only (KEY=VALUE, e.g. weight_decay=0.05),
    /// to see the comparison fail on a known difference. Repeatable.
    #[arg(long = "peer-override", value_name = "KEY=VALUE")]
    pub peer_overrides: Vec<String>,
}

impl ParityCmd {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        if self.steps == 0 || self.eval_every == 0 || self.eval_images == 0 || self.noise_runs == 0 {
            return Err(Error::Invalid("--steps, --eval-every, --eval-images and --noise-runs must be at least 1".into()));
        }
        if self.recipe.range_weight > 0.0 {
            return Err(Error::Invalid("parity does not compare the range-awareness loss: leave --range-weight at 0".into()));
        }
        let overrides = self.overrides()?;
        check_python(&self.python)?;
        let out = self.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/parity-{}", timestamp())));
        std::fs::create_dir_all(&out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
        let data = Data::open(&self.data)?;
        let recipe = &self.recipe;
        recipe.check()?;
        let gpu = gpu(adapter)?;
        let (mut model, teacher) = self.models(&gpu, &data)?;
        let batches = curve::draw(&model, &data, recipe, self.steps, self.eval_images)?;
        let eval_steps: Vec<usize> = (0..=self.steps).filter(|s| s % self.eval_every == 0 || *s == self.steps).collect();
        write_inputs(&out, &model, teacher.as_ref(), &batches)?;
        let spec = json!({
            "model": model.config,
            "teacher_model": teacher.as_ref().map(|t| &t.config),
            "recipe": {
                "optimizer": recipe.optimizer, "momentum": recipe.momentum,
                "lr": recipe.lr, "weight_decay": recipe.weight_decay, "coef_lr": recipe.coef_lr,
                "clip_value": recipe.clip_value, "clip_norm": recipe.clip_norm,
                "kd_alpha": recipe.alpha, "kd_t": recipe.temperature, "betas": [0.9, 0.999], "eps": 1e-8,
            },
            "peer_overrides": overrides,
            "eval_steps": eval_steps,
            "noise_runs": self.noise_runs,
            "threads": self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        });
        fsx::write(&out.join("spec.json"), spec.to_string().as_bytes())?;
        eprintln!("parity: {} steps of batch {} in heft ({}) ...", batches.x.len(), batches.batch, gpu.describe());
        let heft = curve::train(&mut model, teacher.as_ref(), &batches, recipe, &eval_steps)?;
        write_json(&out.join("heft.json"), &heft)?;
        eprintln!("parity: the same in PyTorch ({}) ...", self.python);
        let torch = run_peer(&out, &self.python)?;
        let parity = curve::compare(&heft, &torch, Tolerance { abs: self.tol_abs, factor: self.noise_factor })?;
        write_json(&out.join("parity.json"), &parity)?;
        print(&parity, batches.eval_labels.len());
        println!("files: {}", out.display());
        match (parity.parted_at, parity.eval_parted_at) {
            (None, None) => Ok(()),
            (Some(s), _) => Err(Error::Invalid(format!("heft and PyTorch part at step {s} of {}", self.steps))),
            (None, Some(s)) => Err(Error::Invalid(format!("the eval-mode losses part at step {s} (training losses agree)"))),
        }
    }

    /// The model to train (dropout off on both sides) and, for a student, its frozen teacher.
    fn models(&self, gpu: &heft::Gpu, data: &heft::train::Data) -> Result<(Model, Option<Model>)> {
        let Some(path) = &self.teacher else {
            let config = heft::nn::model::ModelConfig { dropout: 0.0, ..model_config(&self.model, data.train.classes.clone()) };
            return Ok((Model::teacher(gpu, config, self.recipe.seed)?, None));
        };
        let (scfg, _) = student_config(&self.student)?;
        let s = &self.student;
        if s.schedule != ScheduleKind::All || s.act != StudentAct::Poly || !s.linear.is_empty() || s.depth_budget.is_some() || s.from_student.is_some() {
            return Err(Error::Invalid("parity compares students whose activations are all trainable polynomials from step 1, converted from the teacher: use --act poly --schedule all, without --linear, --depth-budget or --from-student".into()));
        }
        let config = heft::nn::model::ModelConfig { dropout: 0.0, ..checkpoint::read_config(path)? };
        if config.student.is_some() {
            return Err(Error::Invalid(format!("{} is a student; --teacher takes the ReLU teacher it was distilled from", path.display())));
        }
        let mut teacher = Model::teacher(gpu, config, self.recipe.seed)?;
        checkpoint::load_state(&mut teacher, path, LoadMode::Strict)?;
        Ok((to_student(&teacher, &scfg)?, Some(teacher)))
    }

    fn overrides(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let mut map = serde_json::Map::new();
        for o in &self.peer_overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| Error::Invalid(format!("--peer-override {o:?}: expected KEY=VALUE")))?;
            let v: serde_json::Value = serde_json::from_str(v).map_err(|e| Error::Invalid(format!("--peer-override {o:?}: {e}")))?;
            map.insert(k.to_string(), v);
        }
        Ok(map)
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string(value).map_err(|e| Error::Invalid(e.to_string()))?;
    fsx::write(path, text.as_bytes())
}

/// init.safetensors (and teacher.safetensors) with their configs, and batches.safetensors.
fn write_inputs(out: &Path, model: &Model, teacher: Option<&Model>, b: &curve::Batches) -> Result<()> {
    checkpoint::save(model, &out.join("init.safetensors"))?;
    if let Some(t) = teacher {
        checkpoint::save(t, &out.join("teacher.safetensors"))?;
    }
    let shape = model.in_shape(b.batch);
    let flat = |v: &[Vec<f32>]| v.concat();
    let labels: Vec<f32> = b.labels.iter().flatten().map(|&l| l as f32).collect();
    let tensors = vec![
        ("x".to_string(), [vec![b.x.len()], shape].concat(), flat(&b.x)),
        ("labels".to_string(), vec![b.x.len(), b.batch], labels),
        ("class_weights".to_string(), vec![b.class_weights.len()], b.class_weights.clone()),
        ("eval_x".to_string(), model.in_shape(b.eval_labels.len()), b.eval_x.clone()),
        ("eval_labels".to_string(), vec![b.eval_labels.len()], b.eval_labels.iter().map(|&l| l as f32).collect()),
    ];
    heft::safetensors_file::write(&out.join("batches.safetensors"), &tensors, None)
}

/// Refuse a Python without torch and safetensors before any training is done.
fn check_python(python: &str) -> Result<()> {
    let out = std::process::Command::new(python).args(["-c", "import torch, safetensors"]).output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(_) => Err(Error::Invalid(format!("{python} cannot import torch and safetensors: `{python} -m pip install torch safetensors`, or pass --python"))),
        Err(e) => Err(Error::Invalid(format!("could not run {python}: {e} (pass --python with torch and safetensors installed)"))),
    }
}

/// Write the scripts into `out`, run the PyTorch side there and read its curve.
fn run_peer(out: &Path, python: &str) -> Result<curve::Peer> {
    for (name, text) in SCRIPTS {
        fsx::write(&out.join(name), text.as_bytes())?;
    }
    let status = std::process::Command::new(python)
        .arg(out.join("curve.py"))
        .arg(out)
        .status()
        .map_err(|e| Error::Invalid(format!("could not run {python}: {e} (pass --python with torch and safetensors installed)")))?;
    if !status.success() {
        return Err(Error::Invalid(format!("the PyTorch side ({python} {}) failed with {status}; its message is above", out.join("curve.py").display())));
    }
    let path = out.join("torch.json");
    let text = std::fs::read_to_string(&path).map_err(|err| Error::Io { path: path.display().to_string(), err })?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// The step table (every step up to 60, else every tenth and the notable ones), the eval
/// points, and the verdict.
fn print(p: &Parity, eval_images: usize) {
    println!("{:>5} {:>12} {:>12} {:>10} {:>10} {:>10}", "step", "heft loss", "PyTorch", "|diff|", "PT noise", "tolerance");
    let every = if p.steps.len() <= 60 { 1 } else { 10 };
    for r in &p.steps {
        let notable = Some(r.step) == p.parted_at || r.step == p.max_diff_step || r.step == p.steps.len() || r.step == 1;
        if r.step % every == 0 || notable {
            let mark = if r.diff > r.tol { "  apart" } else { "" };
            println!("{:>5} {:>12.6} {:>12.6} {:>10.2e} {:>10.2e} {:>10.2e}{mark}", r.step, r.heft, r.torch, r.diff, r.noise, r.tol);
        }
    }
    println!("\neval mode ({eval_images} validation images): step, loss heft / PyTorch, accuracy heft / PyTorch, max |logit diff|, tolerance");
    for e in &p.evals {
        let r = &e.loss;
        let mark = if r.diff > r.tol { "  apart" } else { "" };
        println!("{:>5} {:>10.6} / {:<10.6} {:>6.4} / {:<6.4} {:>10.2e} {:>10.2e}{mark}", r.step, r.heft, r.torch, e.heft_accuracy, e.torch_accuracy, e.max_logit_diff, r.tol);
    }
    println!("\nlargest |loss diff| {:.3e} at step {}", p.max_diff, p.max_diff_step);
    match p.parted_at {
        None => println!("the training curves agree within tolerance over {} steps", p.steps.len()),
        Some(s) => {
            let r = &p.steps[s - 1];
            println!("the training curves part at step {s}: heft {:.6}, PyTorch {:.6} (|diff| {:.3e} > {:.3e})", r.heft, r.torch, r.diff, r.tol);
        }
    }
}
