//! `heft profile`: where the GPU time of one training step goes, per kernel. Runs a teacher step
//! (forward, CE, backward, Adam) or a student distillation step (the teacher's forward, the
//! student's forward, CE + α·T²·KD, backward, Adam) with the training defaults (`Recipe`), on
//! random data, after one warm-up step, with every dispatch timed by timestamp queries.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, KernelTime, TraceEvent};
use crate::nn::convert::to_student;
use crate::nn::model::{Model, ModelConfig, StudentConfig};
use crate::ops::elementwise;
use crate::optim::Trainer;
use crate::recipe::Recipe;
use crate::rng::Rng;
use crate::step::{self, Batch};
use crate::tensor::Tensor;
use crate::tune::Site;
use std::time::Instant;

/// Per-step figures of a profiled run.
#[derive(Debug, serde::Serialize)]
pub struct Profile {
    pub model: String,
    pub batch: usize,
    pub steps: usize,
    /// Kernels, longest first; `calls` and `ms` are per step.
    pub kernels: Vec<KernelTime>,
    /// Sum of the kernels' GPU time per step.
    pub gpu_ms: f64,
    /// Wall-clock time per step (profiling makes every submit wait, so this is an upper bound
    /// of an unprofiled step).
    pub wall_ms: f64,
    /// Kernel dispatches per step.
    pub dispatches: f64,
    /// Buffer-to-buffer copies per step (not dispatches, but commands too).
    pub copies: f64,
    /// Queue submits and host read-backs per step (with profiling on, every submit waits).
    pub submits: f64,
    pub readbacks: f64,
    /// The variant of each tunable op of the step (GEMM shapes, convolution passes).
    pub choices: Vec<Choice>,
    /// Every dispatch of the profiled steps (`--trace`).
    #[serde(skip)]
    pub trace: Vec<TraceEvent>,
    /// Where tuned choices came from (a `heft tune` cache), if any were used.
    pub tuning: Option<String>,
}

/// The variant one tunable op of the step uses.
#[derive(Debug, serde::Serialize)]
pub struct Choice {
    pub site: Site,
    pub variant: &'static str,
    /// From the tuning cache (else the static choice for this kind of adapter).
    pub tuned: bool,
}

/// One training step on random data with the training defaults (`Recipe`): a teacher step, or
/// a student distillation step (the teacher's forward included). `heft profile` times it and
/// `heft tune` learns from it which GEMM shapes a model's training uses.
pub struct RandomStep {
    teacher: Model,
    student: Option<Model>,
    /// The teacher as distillation runs it (with a student).
    kd_teacher: Option<Model>,
    x: Tensor,
    labels: Tensor,
    weights: Tensor,
    trainer: Trainer,
    recipe: Recipe,
    pub batch: usize,
}

impl RandomStep {
    pub fn new(gpu: &Gpu, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize, seed: u64) -> Result<RandomStep> {
        if batch < 2 {
            return Err(Error::Invalid("a training step needs --batch 2 or more (batch norm)".into()));
        }
        let mut teacher = Model::teacher(gpu, cfg, seed)?;
        let mut student = student.as_ref().map(|s| to_student(&teacher, s)).transpose()?;
        let kd_teacher = student.as_ref().map(|_| crate::nn::fold::for_distillation(&teacher)).transpose()?;
        let c = &teacher.config;
        let mut rng = Rng::new(seed);
        let x: Vec<f32> = (0..batch * c.in_channels * c.input * c.input).map(|_| rng.normal()).collect();
        let x = Tensor::from_f32(gpu, &x, &[batch, c.in_channels, c.input, c.input])?;
        let labels: Vec<u32> = (0..batch).map(|i| (i % c.classes) as u32).collect();
        let labels = crate::ops::cross_entropy::labels(gpu, &labels, c.classes)?;
        let weights = elementwise::full(gpu, &[c.classes], 1.0)?;
        let recipe = Recipe::default();
        let mut trainer = recipe.trainer()?;
        trainer.adopt(student.as_mut().unwrap_or(&mut teacher))?;
        Ok(RandomStep { teacher, student, kd_teacher, x, labels, weights, trainer, recipe, batch })
    }

    /// e.g. `Alexnet teacher, input 1x64x64`.
    pub fn name(&self) -> String {
        let c = &self.teacher.config;
        let role = if self.student.is_some() { "student (distillation step)" } else { "teacher" };
        format!("{:?} {role}, input {}x{}x{}", c.arch, c.in_channels, c.input, c.input)
    }

    /// Step `i`, returning every distinct tunable op it ran (GEMM shapes, convolution passes;
    /// recorded by the GPU's tuning table while the step runs).
    pub fn run_recording(&mut self, i: usize) -> Result<Vec<Site>> {
        let gpu = self.x.gpu().clone();
        gpu.tuning().record();
        let ran = self.run(i);
        let seen = gpu.tuning().take_recorded();
        ran?;
        Ok(seen.into_iter().map(|(op, shape)| Site { op: op.to_string(), shape }).collect())
    }

    /// Step `i` (dropout masks differ per step); waits for the loss.
    pub fn run(&mut self, i: usize) -> Result<()> {
        let (model, kd_teacher) = match &self.student {
            Some(s) => (s, self.kd_teacher.as_ref()),
            None => (&self.teacher, None),
        };
        let batch = Batch { x: &self.x, labels: &self.labels, weights: &self.weights };
        let s = step::forward_backward(model, kd_teacher, &batch, &self.recipe.loss(), i as u32, false)?;
        self.trainer.step(&model.params(), &s.grads)?;
        s.loss.to_f32()?;
        Ok(())
    }
}

/// Profile `steps` training steps of `cfg` (its student when `student` is set) at `batch`.
pub fn run(gpu: &Gpu, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize, steps: usize, seed: u64) -> Result<Profile> {
    if steps == 0 {
        return Err(Error::Invalid("profiling needs --steps 1 or more".into()));
    }
    let mut step = RandomStep::new(gpu, cfg, student, batch, seed)?;
    // the warm-up step compiles the pipelines and fills the buffer pool
    let choices = step
        .run_recording(0)?
        .into_iter()
        .map(|site| {
            let (variant, tuned) = crate::tune::chosen(gpu, &site);
            Choice { site, variant, tuned }
        })
        .collect();
    let tuning = gpu.tuning().source.clone();
    gpu.reset_kernel_times()?;
    let ((submits0, reads0), dispatches0, copies0) = (gpu.round_trips(), gpu.dispatches(), gpu.copies());
    let t = Instant::now();
    for i in 1..=steps {
        step.run(i)?;
    }
    gpu.sync()?;
    let wall_ms = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
    let ((submits1, reads1), dispatches1, copies1) = (gpu.round_trips(), gpu.dispatches(), gpu.copies());
    let per_step = |a: u64, b: u64| (b - a) as f64 / steps as f64;
    let trace = gpu.trace_events()?;
    let mut kernels = gpu.kernel_times()?;
    for k in &mut kernels {
        k.ms /= steps as f64;
        k.calls /= steps as u64; // every step dispatches the same kernels
    }
    let gpu_ms = kernels.iter().map(|k| k.ms).sum();
    Ok(Profile {
        model: step.name(),
        batch,
        steps,
        kernels,
        gpu_ms,
        wall_ms,
        dispatches: per_step(dispatches0, dispatches1),
        copies: per_step(copies0, copies1),
        submits: per_step(submits0, submits1),
        readbacks: per_step(reads0, reads1),
        choices,
        tuning,
        trace,
    })
}

/// The human table: one row per kernel with calls and GPU time per step and its share.
pub fn format(p: &Profile) -> String {
    let mut s = format!("{}, batch {}, mean of {} steps\n", p.model, p.batch, p.steps);
    s += &format!("{:<28} {:>11} {:>11} {:>7}\n", "kernel", "calls/step", "ms/step", "share");
    for k in &p.kernels {
        s += &format!("{:<28} {:>11} {:>11.3} {:>6.1}%\n", k.kernel, k.calls, k.ms, 100.0 * k.ms / p.gpu_ms.max(1e-12));
    }
    s += &format!(
        "GPU time {:.1} ms/step (sum of kernels); wall {:.1} ms/step ({:.1} img/s; every submit waits while profiling)\n",
        p.gpu_ms,
        p.wall_ms,
        p.batch as f64 / (p.wall_ms / 1e3)
    );
    s += &format!("{:.0} dispatches, {:.0} copies, {:.1} submits and {:.1} read-backs per step\n", p.dispatches, p.copies, p.submits, p.readbacks);
    for (what, ops) in [("GEMM variants", &["matmul"][..]), ("convolution forms", &["conv2d_fwd", "conv2d_bwd"][..])] {
        let mine: Vec<&Choice> = p.choices.iter().filter(|c| ops.contains(&c.site.op.as_str())).collect();
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for c in &mine {
            match counts.iter_mut().find(|(v, _)| *v == c.variant) {
                Some(n) => n.1 += 1,
                None => counts.push((c.variant, 1)),
            }
        }
        let uses: Vec<String> = counts.iter().map(|(v, c)| format!("{v} on {c}")).collect();
        s += &format!("{what}: {} of {}; ", uses.join(", "), mine.len());
    }
    let tuned = p.choices.iter().filter(|c| c.tuned).count();
    s += &match &p.tuning {
        Some(src) => format!("{tuned} tuned ({src}), the rest the static choice\n"),
        None => "static choice per adapter (no tuning cache)\n".into(),
    };
    s
}
