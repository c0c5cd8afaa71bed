//! The timings behind `heft tune`: every variant of one tunable op (a GEMM product shape, or
//! one pass of a convolution layer) run on filler data of its shape, the fastest chosen. A busy
//! machine only ever adds time, so each variant's estimate is its minimum over rounds, and the
//! rounds interleave the variants (one sample of each, in a rotating order) so that a noisy
//! second slows them all rather than pinning a slow one: two tunings on a loaded VM had chosen
//! differently for 33 of 123 sites when each variant was timed in one block and its median kept.

use super::{tunable, Entry, Site};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::conv2d::{self, FORMS};
use crate::ops::matmul::{self, Bias, Gemm, OutMap, VARIANTS};
use crate::tensor::{DType, Tensor};
use std::time::Instant;

/// One variant to time: its name and one run of it.
type Candidate<'a> = (&'static str, Box<dyn FnMut() -> Result<()> + 'a>);

/// Milliseconds of `runs` runs of `f`, per run, ending with a sync.
fn per_run_ms(gpu: &Gpu, runs: usize, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..runs {
        f()?;
    }
    gpu.sync()?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / runs as f64)
}

/// Each candidate's time, fastest first. Every candidate is warmed up (its pipeline compiled)
/// and run once; one over 3× the fastest single run is not sampled further (that run's time
/// stands). The others get `reps` rounds, each sampling every one of them once in a rotating
/// order (a sample repeats the op to last about 20 ms), and keep their minimum.
fn fastest(gpu: &Gpu, reps: usize, mut cands: Vec<Candidate>) -> Result<Vec<(String, f64)>> {
    let mut once = Vec::new();
    for (_, f) in cands.iter_mut() {
        per_run_ms(gpu, 1, f.as_mut())?;
        once.push(per_run_ms(gpu, 1, f.as_mut())?);
    }
    let floor = once.iter().copied().fold(f64::INFINITY, f64::min);
    let sampled: Vec<usize> = (0..cands.len()).filter(|&i| once[i] <= 3.0 * floor).collect();
    let inner: Vec<usize> = once.iter().map(|t| ((20.0 / t.max(1e-3)) as usize).clamp(1, 50)).collect();
    let mut best: Vec<f64> = once.iter().enumerate().map(|(i, &t)| if sampled.contains(&i) { f64::INFINITY } else { t }).collect();
    for round in 0..reps.max(1) {
        for j in 0..sampled.len() {
            let i = sampled[(j + round) % sampled.len()];
            best[i] = best[i].min(per_run_ms(gpu, inner[i], cands[i].1.as_mut())?);
        }
    }
    let mut ms: Vec<(String, f64)> = cands.iter().zip(best).map(|((name, _), t)| (name.to_string(), t)).collect();
    ms.sort_by(|x, y| x.1.total_cmp(&y.1));
    Ok(ms)
}

/// A tensor of `shape` filled with a fixed pattern in [-0.5, 0.5).
fn filler(gpu: &Gpu, shape: &[usize], seed: usize) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 1000.0 - 0.5).collect();
    Tensor::from_f32(gpu, &v, shape)
}

/// Time every variant of `site` that runs here (`fastest`); the fastest is the choice.
pub fn measure(gpu: &Gpu, site: &Site, reps: usize) -> Result<Entry> {
    measure_among(gpu, site, reps, &|_| true)
}

/// `measure` over the variants whose name `keep` accepts.
pub fn measure_among(gpu: &Gpu, site: &Site, reps: usize, keep: &dyn Fn(&str) -> bool) -> Result<Entry> {
    tunable(&site.op).ok_or_else(|| Error::Invalid(format!("{} cannot be tuned", site.op)))?;
    let ms = match (site.op.as_str(), &site.shape[..]) {
        ("matmul", &[m, n, kp]) => {
            let (a, b) = (filler(gpu, &[m, kp], 1)?, filler(gpu, &[n, kp], 2)?);
            let c = Tensor::empty(gpu, &[m, n], DType::F32)?;
            let gemm = Gemm { a: &a, b: &b, m, n, kp, bias: Bias::None, c: &c, map: OutMap::row_major(n), accumulate: false, relu: false };
            let gemm = &gemm;
            let cands: Vec<Candidate> = VARIANTS
                .iter()
                .enumerate()
                .filter(|(_, v)| v.available(gpu) && keep(v.name))
                .map(|(i, v)| (v.name, Box::new(move || matmul::matmul_into_with(i, gemm)) as Box<dyn FnMut() -> Result<()>>))
                .collect();
            fastest(gpu, reps, cands)?
        }
        (op, &[n, c, h, w, co, kh, kw, stride, pad, need_dx]) => {
            let x = filler(gpu, &[n, c, h, w], 1)?;
            let wt = filler(gpu, &[co, c, kh, kw], 2)?;
            let bias = filler(gpu, &[co], 3)?;
            let g = conv2d::geometry(&x, &wt, stride, pad)?;
            let dy = filler(gpu, &[n, co, g.oh, g.ow], 4)?;
            let (x, wt, bias, dy) = (&x, &wt, &bias, &dy);
            let forward = op == "conv2d_fwd";
            let cands: Vec<Candidate> = FORMS
                .iter()
                .filter(|f| keep(f.0))
                .map(|&(name, form)| {
                    let run = move || {
                        if forward {
                            conv2d::forward_with(form, x, wt, Some(bias), stride, pad, false).map(drop)
                        } else {
                            conv2d::backward_with(form, x, wt, dy, stride, pad, need_dx == 1).map(drop)
                        }
                    };
                    (name, Box::new(run) as Box<dyn FnMut() -> Result<()>>)
                })
                .collect();
            fastest(gpu, reps, cands)?
        }
        _ => return Err(Error::Invalid(format!("{}: a shape of {} sizes is not one of its shapes", site.op, site.shape.len()))),
    };
    if ms.is_empty() {
        return Err(Error::Invalid(format!("{site}: no variant to time")));
    }
    Ok(Entry { site: site.clone(), choice: ms[0].0.clone(), ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A candidate far slower than the fastest single run is run twice (warm-up and once) and
    /// never sampled; the others are sampled in rounds whose order rotates, fastest first out.
    #[test]
    fn slow_candidates_are_pruned_and_the_rounds_interleave() {
        let gpu = Gpu::new(&crate::AdapterChoice::default()).expect("a GPU adapter (lavapipe is enough)");
        let calls = RefCell::new(Vec::new());
        let cand = |name: &'static str, sleep_ms: u64| -> Candidate {
            let calls = &calls;
            (name, Box::new(move || {
                calls.borrow_mut().push(name);
                std::thread::sleep(std::time::Duration::from_millis(sleep_ms));
                Ok(())
            }))
        };
        let ms = fastest(&gpu, 2, vec![cand("a", 0), cand("slow", 60), cand("b", 0)]).unwrap();
        let calls = calls.into_inner();
        assert_eq!(calls.iter().filter(|c| **c == "slow").count(), 2, "{calls:?}");
        assert_eq!(ms.last().map(|m| m.0.as_str()), Some("slow"), "{ms:?}");
        let mut blocks: Vec<&str> = calls.clone();
        blocks.dedup();
        // warm-up and one run each, then round 0 (a, b) and round 1 (b, a)
        assert_eq!(blocks, ["a", "slow", "b", "a", "b", "a"], "{calls:?}");
    }
}
