//! Kernel benchmarks shared by `cargo bench` and `heft bench`: GFLOP/s of every GEMM variant
//! at n³ (1024³ unless asked) and of conv2d forward/backward, in each form, at AlexNet's
//! conv1–conv5 shapes (batch 8, 224×224 input). Wall-clock per run (submit + wait), median of `reps` after one warm-up run.
//! `steps` times whole training steps, side by side with PyTorch.

pub mod steps;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::{conv2d, matmul};
use crate::tensor::Tensor;
use std::time::Instant;

pub struct Row {
    pub name: String,
    pub gflop: f64,
    pub median_ms: f64,
}

impl Row {
    pub fn gflops(&self) -> f64 {
        self.gflop / (self.median_ms / 1e3)
    }
}

pub(crate) fn time(gpu: &Gpu, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    gpu.sync()?;
    let mut ms = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        gpu.sync()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    Ok(ms[ms.len() / 2])
}

fn filled(gpu: &Gpu, shape: &[usize], seed: u32) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n as u32).map(|i| ((i.wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 1000.0 - 0.5).collect();
    Tensor::from_f32(gpu, &data, shape)
}

/// (name, in channels, out channels, kernel, stride, pad, input size) of AlexNet's convolutions.
pub const ALEXNET_CONVS: [(&str, usize, usize, usize, usize, usize, usize); 5] = [
    ("conv1", 3, 64, 11, 4, 2, 224),
    ("conv2", 64, 192, 5, 1, 2, 27),
    ("conv3", 192, 384, 3, 1, 1, 13),
    ("conv4", 384, 256, 3, 1, 1, 13),
    ("conv5", 256, 256, 3, 1, 1, 13),
];

pub fn run(gpu: &Gpu, reps: usize, batch: usize, n: usize, mut report: impl FnMut(&Row)) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut push = |row: Row| {
        report(&row);
        rows.push(row);
    };
    let (a, b) = (filled(gpu, &[n, n], 1)?, filled(gpu, &[n, n], 2)?);
    let c = Tensor::empty(gpu, &[n, n], crate::DType::F32)?;
    for (i, v) in matmul::VARIANTS.iter().enumerate().filter(|(_, v)| v.available(gpu)) {
        let ms = time(gpu, reps, || matmul::matmul_into_with(i, &matmul::Gemm { a: &a, b: &b, m: n, n, kp: n, bias: matmul::Bias::None, c: &c, map: matmul::OutMap::row_major(n), accumulate: false, relu: false }))?;
        push(Row { name: format!("matmul {n}x{n}x{n} {}", v.name), gflop: 2.0 * (n * n * n) as f64 / 1e9, median_ms: ms });
    }
    for (name, ci, co, k, s, p, hw) in ALEXNET_CONVS {
        let x = filled(gpu, &[batch, ci, hw, hw], 3)?;
        let w = filled(gpu, &[co, ci, k, k], 4)?;
        let bias = filled(gpu, &[co], 5)?;
        let o = (hw + 2 * p - k) / s + 1;
        let gflop = 2.0 * (batch * co * o * o * ci * k * k) as f64 / 1e9;
        let dy = filled(gpu, &[batch, co, o, o], 6)?;
        for (form_name, form) in conv2d::FORMS {
            let ms = time(gpu, reps, || conv2d::forward_with(form, &x, &w, Some(&bias), s, p, false).map(drop))?;
            push(Row { name: format!("conv2d fwd  {name} b{batch} {ci}->{co} k{k} s{s} {hw}px {form_name}"), gflop, median_ms: ms });
            let ms = time(gpu, reps, || conv2d::backward_with(form, &x, &w, &dy, s, p, true).map(drop))?;
            push(Row { name: format!("conv2d bwd  {name} (dx+dw+db) {form_name}"), gflop: 2.0 * gflop, median_ms: ms });
        }
    }
    Ok(rows)
}
