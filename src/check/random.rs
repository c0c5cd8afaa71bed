//! `heft check --random`: fresh random shapes of every kernel family (every GEMM variant and
//! convolution form the adapter runs) against the CPU reference in f64 (src/reference/).

use super::compare::{compare, Row, EW, RED};
use crate::error::{Error, Result};
use crate::ops::{self, avgpool::AvgPool, maxpool::Pool};
use crate::tensor::Tensor;
use crate::Gpu;

fn rand_vec(rng: &mut crate::rng::Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.range(-scale, scale)).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// `n` rounds of random shapes per kernel family against the CPU reference (f64).
pub fn random(gpu: &Gpu, n: usize, seed: u64) -> Result<Vec<Row>> {
    use crate::reference as r;
    let mut rng = crate::rng::Rng::new(seed);
    let mut rows = Vec::new();
    for round in 0..n {
        let mut dim = |lo: usize, hi: usize| lo + rng.below(hi - lo + 1);
        let (nb, c, co, k, stride) = (dim(1, 3), dim(1, 6), dim(1, 9), [1, 3, 5][round % 3], dim(1, 3));
        let pad = k / 2;
        let hw = dim(k.max(3), 17);
        let mut rng2 = crate::rng::Rng::new(seed ^ ((round as u64 + 1) * 0x9E37));
        let x = rand_vec(&mut rng2, nb * c * hw * hw, 1.0);
        let w = rand_vec(&mut rng2, co * c * k * k, 1.0);
        let b = rand_vec(&mut rng2, co, 1.0);
        let g = r::conv2d::Geom { n: nb, c, h: hw, w: hw, co, kh: k, kw: k, stride, pad };
        let case = format!("random {nb}x{c}x{hw}x{hw} -> {co} k{k} s{stride} p{pad}");
        let (xt, wt, bt) = (Tensor::from_f32(gpu, &x, &[nb, c, hw, hw])?, Tensor::from_f32(gpu, &w, &[co, c, k, k])?, Tensor::from_f32(gpu, &b, &[co])?);
        let want = r::conv2d::forward(&f64s(&x), &f64s(&w), Some(&f64s(&b)), &g);
        let dy = rand_vec(&mut rng2, want.len(), 1.0);
        let dyt = Tensor::from_f32(gpu, &dy, &[nb, co, g.oh(), g.ow()])?;
        let (rdx, rdw, rdb) = r::conv2d::backward(&f64s(&x), &f64s(&w), &f64s(&dy), &g);
        // every form (the tuner may choose either per layer)
        for (name, form) in ops::conv2d::FORMS {
            let y = ops::conv2d::forward_with(form, &xt, &wt, Some(&bt), stride, pad, false)?;
            rows.push(compare("conv2d", &format!("{case} {name} y"), &y.to_f32()?, &f32s(&want), RED.0, RED.1));
            let (dx, dw, db) = ops::conv2d::backward_with(form, &xt, &wt, &dyt, stride, pad, true)?;
            rows.push(compare("conv2d", &format!("{case} {name} dx"), &dx.ok_or_else(|| Error::Invalid("no dx".into()))?.to_f32()?, &f32s(&rdx), RED.0, RED.1));
            rows.push(compare("conv2d", &format!("{case} {name} dw"), &dw.to_f32()?, &f32s(&rdw), RED.0, RED.1));
            rows.push(compare("conv2d", &format!("{case} {name} db"), &db.to_f32()?, &f32s(&rdb), RED.0, RED.1));
        }
        // linear on the flattened input
        let fin = c * hw * hw;
        let lw = rand_vec(&mut rng2, co * fin, 0.2);
        let (x2, w2) = (xt.reshape(&[nb, fin])?, Tensor::from_f32(gpu, &lw, &[co, fin])?);
        let ly = ops::linear::forward(&x2, &w2, Some(&bt))?;
        let want = r::linear::forward(&f64s(&x), &f64s(&lw), Some(&f64s(&b)), nb, fin, co);
        rows.push(compare("linear", &format!("random {nb}x{fin} -> {co} y"), &ly.to_f32()?, &f32s(&want), RED.0, RED.1));
        // pooling over the input, quad and relu on it
        let pool = Pool { kernel: 3.min(hw), stride: 2, pad: 0, ceil: round % 2 == 1 };
        let (my, _) = ops::maxpool::forward(&xt, pool)?;
        let (oh, ow) = (my.shape()[2], my.shape()[3]);
        let (want, _) = r::maxpool::forward(&f64s(&x), nb * c, hw, hw, oh, ow, pool.kernel, 2, 0);
        rows.push(compare("maxpool", &format!("random {nb}x{c}x{hw}x{hw} k{} ceil {}", pool.kernel, pool.ceil), &my.to_f32()?, &f32s(&want), EW.0, EW.1));
        let ay = ops::avgpool::forward(&xt, AvgPool::Window(pool))?;
        let want = r::avgpool::forward(&f64s(&x), nb * c, hw, hw, oh, ow, Some((pool.kernel, 2, 0)));
        rows.push(compare("avgpool", &format!("random {nb}x{c}x{hw}x{hw} k{} ceil {}", pool.kernel, pool.ceil), &ay.to_f32()?, &f32s(&want), 1e-6, 1e-6));
        let coef = [rng2.range(-1.0, 1.0), rng2.range(-1.0, 1.0), rng2.range(-1.0, 1.0)];
        let ratio = [1.0, 0.5, 0.0][round % 3];
        let qy = ops::quad::forward(&xt, &Tensor::from_f32(gpu, &coef, &[3])?, ratio)?;
        let want = r::quad::forward(&f64s(&x), &[coef[0] as f64, coef[1] as f64, coef[2] as f64], ratio as f64);
        rows.push(compare("quad", &format!("random {} elements ratio {ratio}", x.len()), &qy.to_f32()?, &f32s(&want), 1e-6, 1e-6));
        // every GEMM variant the adapter runs (the tuner may choose any) on a random product
        let (m, nn, kk) = (dim(1, 70), dim(1, 140), dim(1, 40));
        let (ga, gb) = (rand_vec(&mut rng2, m * kk, 1.0), rand_vec(&mut rng2, nn * kk, 1.0));
        let want = r::matmul::matmul_nt(&f64s(&ga), &f64s(&gb), m, nn, kk);
        let kp = ops::matmul::pad4(kk);
        let ap = ops::pack::pad_cols(&Tensor::from_f32(gpu, &ga, &[m, kk])?, kp)?;
        let bp = ops::pack::pad_cols(&Tensor::from_f32(gpu, &gb, &[nn, kk])?, kp)?;
        for (i, v) in ops::matmul::VARIANTS.iter().enumerate().filter(|(_, v)| v.available(gpu)) {
            let c = Tensor::empty(gpu, &[m, nn], crate::DType::F32)?;
            ops::matmul::matmul_into_with(i, &ops::matmul::Gemm { a: &ap, b: &bp, m, n: nn, kp, bias: ops::matmul::Bias::None, c: &c, map: ops::matmul::OutMap::row_major(nn), accumulate: false, relu: false })?;
            rows.push(compare("matmul", &format!("random {m}x{nn}x{kk} {}", v.name), &c.to_f32()?, &f32s(&want), RED.0, RED.1));
        }
        // losses on random logits
        let classes = 2 + rng2.below(5);
        let z = rand_vec(&mut rng2, nb * classes, 4.0);
        let labels: Vec<u32> = (0..nb).map(|_| rng2.below(classes) as u32).collect();
        let cw = vec![1.0f32; classes];
        let (zt, cwt) = (Tensor::from_f32(gpu, &z, &[nb, classes])?, Tensor::from_f32(gpu, &cw, &[classes])?);
        let (loss, _) = ops::cross_entropy::forward(&zt, &ops::cross_entropy::labels(gpu, &labels, classes)?, &cwt)?;
        let want = r::cross_entropy::forward(&f64s(&z), &labels, &f64s(&cw), classes);
        rows.push(compare("cross_entropy", &format!("random {nb}x{classes}"), &loss.to_f32()?, &[want as f32], RED.0, RED.1));
    }
    Ok(rows)
}
