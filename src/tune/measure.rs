//! The timings behind `heft tune`: every variant of one tunable op (a GEMM product shape, or
//! one pass of a convolution layer) run on filler data of its shape, the median kept, the
//! fastest chosen.

use super::{tunable, Entry, Site};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::conv2d::{self, FORMS};
use crate::ops::matmul::{self, Bias, Gemm, OutMap, VARIANTS};
use crate::tensor::{DType, Tensor};
use std::time::Instant;

/// Median milliseconds of `f` (each sample repeats it enough to last about 20 ms). A variant
/// whose second run is over 3x `best` (the fastest median so far) is not sampled further: that
/// run's time is returned.
fn median_ms(gpu: &Gpu, reps: usize, best: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    gpu.sync()?; // warm-up: compiles the pipeline
    let t = Instant::now();
    f()?;
    gpu.sync()?;
    let once = t.elapsed().as_secs_f64() * 1e3;
    if once > 3.0 * best {
        return Ok(once);
    }
    let inner = ((20.0 / once.max(1e-3)) as usize).clamp(1, 50);
    let mut ms = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        for _ in 0..inner {
            f()?;
        }
        gpu.sync()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3 / inner as f64);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// A tensor of `shape` filled with a fixed pattern in [-0.5, 0.5).
fn filler(gpu: &Gpu, shape: &[usize], seed: usize) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 1000.0 - 0.5).collect();
    Tensor::from_f32(gpu, &v, shape)
}

/// Time every variant of `site` that runs here (variants far slower than the best so far are
/// timed once, not sampled); the fastest is the choice.
pub fn measure(gpu: &Gpu, site: &Site, reps: usize) -> Result<Entry> {
    tunable(&site.op).ok_or_else(|| Error::Invalid(format!("{} cannot be tuned", site.op)))?;
    let mut ms: Vec<(String, f64)> = Vec::new();
    let mut time = |name: &str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let best = ms.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
        let t = median_ms(gpu, reps, best, f)?;
        ms.push((name.to_string(), t));
        Ok(())
    };
    match (site.op.as_str(), &site.shape[..]) {
        ("matmul", &[m, n, kp]) => {
            let (a, b) = (filler(gpu, &[m, kp], 1)?, filler(gpu, &[n, kp], 2)?);
            let c = Tensor::empty(gpu, &[m, n], DType::F32)?;
            for (i, v) in VARIANTS.iter().enumerate().filter(|(_, v)| v.available(gpu)) {
                let gemm = Gemm { a: &a, b: &b, m, n, kp, bias: Bias::None, c: &c, map: OutMap::row_major(n), accumulate: false };
                time(v.name, &mut || matmul::matmul_into_with(i, &gemm))?;
            }
        }
        (op, &[n, c, h, w, co, kh, kw, stride, pad, need_dx]) => {
            let x = filler(gpu, &[n, c, h, w], 1)?;
            let wt = filler(gpu, &[co, c, kh, kw], 2)?;
            let bias = filler(gpu, &[co], 3)?;
            let g = conv2d::geometry(&x, &wt, stride, pad)?;
            let dy = filler(gpu, &[n, co, g.oh, g.ow], 4)?;
            for (name, form) in FORMS {
                if op == "conv2d_fwd" {
                    time(name, &mut || conv2d::forward_with(form, &x, &wt, Some(&bias), stride, pad).map(drop))?;
                } else {
                    time(name, &mut || conv2d::backward_with(form, &x, &wt, &dy, stride, pad, need_dx == 1).map(drop))?;
                }
            }
        }
        _ => return Err(Error::Invalid(format!("{}: a shape of {} sizes is not one of its shapes", site.op, site.shape.len()))),
    }
    ms.sort_by(|x, y| x.1.total_cmp(&y.1));
    Ok(Entry { site: site.clone(), choice: ms[0].0.clone(), ms })
}
