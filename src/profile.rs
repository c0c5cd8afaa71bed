//! `heft profile`: where the GPU time of one training step goes, per kernel. Runs a teacher step
//! (forward, CE, backward, Adam) or a student distillation step (the teacher's forward, the
//! student's forward, CE + α·T²·KD, backward, Adam) with the training defaults (`Recipe`), on
//! random data, after one warm-up step, with every dispatch timed by timestamp queries.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, KernelTime};
use crate::nn::convert::to_student;
use crate::nn::functional as F;
use crate::nn::layers::Ctx;
use crate::nn::model::{Model, ModelConfig, StudentConfig};
use crate::ops::elementwise;
use crate::ops::optim::AdamCfg;
use crate::optim::Trainer;
use crate::rng::Rng;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::train::Recipe;
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
}

/// Profile `steps` training steps of `cfg` (its student when `student` is set) at `batch`.
pub fn run(gpu: &Gpu, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize, steps: usize, seed: u64) -> Result<Profile> {
    if batch < 2 || steps == 0 {
        return Err(Error::Invalid("profiling needs --batch 2 or more (batch norm) and --steps 1 or more".into()));
    }
    let teacher = Model::teacher(gpu, cfg, seed)?;
    let distilled = student.as_ref().map(|s| to_student(&teacher, s)).transpose()?;
    let (model, kd_teacher) = match &distilled {
        Some(s) => (s, Some(&teacher)),
        None => (&teacher, None),
    };
    let c = &model.config;
    let role = if distilled.is_some() { "student (distillation step)" } else { "teacher" };
    let name = format!("{:?} {role}, input {}x{}x{}", c.arch, c.in_channels, c.input, c.input);
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..batch * c.in_channels * c.input * c.input).map(|_| rng.normal()).collect();
    let x = Tensor::from_f32(gpu, &x, &[batch, c.in_channels, c.input, c.input])?;
    let labels: Vec<u32> = (0..batch).map(|i| (i % c.classes) as u32).collect();
    let labels = crate::ops::cross_entropy::labels(gpu, &labels, c.classes)?;
    let weights = elementwise::full(gpu, &[c.classes], 1.0)?;
    let r = Recipe::default();
    let mut trainer = Trainer::adam(AdamCfg { lr: r.lr, weight_decay: r.weight_decay, ..Default::default() });
    (trainer.coef_lr, trainer.clip) = (Some(r.coef_lr), r.clip);
    let mut step = |i: usize| -> Result<()> {
        let mut tape = Tape::new();
        let logits = model.forward(&mut tape, &Var::constant(x.clone()), &mut Ctx::train(i as u32))?;
        let mut loss = F::cross_entropy(&mut tape, &logits, &labels, &weights)?;
        if let Some(t) = kd_teacher {
            let kd = F::distill(&mut tape, &logits, &t.infer(&x)?, r.kd_t)?;
            loss = F::add(&mut tape, &loss, &kd, 1.0, r.kd_alpha)?;
        }
        let grads = tape.backward(&loss)?;
        trainer.step(&model.params(), &grads)?;
        loss.value.to_f32()?;
        Ok(())
    };
    step(0)?; // compiles the pipelines and fills the buffer pool
    gpu.reset_kernel_times()?;
    let t = Instant::now();
    for i in 1..=steps {
        step(i)?;
    }
    gpu.sync()?;
    let wall_ms = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
    let mut kernels = gpu.kernel_times()?;
    for k in &mut kernels {
        k.ms /= steps as f64;
        k.calls /= steps as u64; // every step dispatches the same kernels
    }
    let gpu_ms = kernels.iter().map(|k| k.ms).sum();
    Ok(Profile { model: name, batch, steps, kernels, gpu_ms, wall_ms })
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
    s
}
