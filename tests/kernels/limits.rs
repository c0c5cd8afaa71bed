//! Work over the device's storage-binding limit: every op splits it into chunks that fit, or
//! refuses with an error naming the kernel and the sizes. The tests open their own GPU with the
//! binding limit lowered to 32 MiB (`AdapterChoice::max_binding`), so the splitting runs on every
//! adapter, whatever its own limit; tensors are just over 32 MiB, so the tests take seconds.
//! (At 16 MiB an aligned chunk of concat over these images would not fit: 8 images of
//! 2 × 309 planes of 33 × 33 are 21.5 MB.)

use crate::common::*;
use heft::ops::avgpool::{self, AvgPool};
use heft::ops::maxpool::{self, Pool};
use heft::ops::{batchnorm, concat, reduce};
use heft::reference;
use heft::{AdapterChoice, Gpu, Tensor};
use std::sync::OnceLock;

/// The storage-binding limit of the tests' GPU.
const BINDING: u64 = 32 << 20;

/// The GPU of this file's tests: the adapter of `common::gpu`, bindings capped at `BINDING`.
fn small_gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    let open = || Gpu::new(&AdapterChoice { max_binding: Some(BINDING), ..Default::default() }).expect("tests need a GPU adapter");
    let gpu = GPU.get_or_init(open).clone();
    assert_eq!(gpu.max_binding(), BINDING, "the lowered binding limit did not take effect");
    gpu
}

fn up(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f32(&small_gpu(), &f32s(v), shape).expect("upload")
}

/// Work over the storage-binding limit is split: element-wise ops,
/// whole-tensor reductions, the linear layer (by blocks of weight rows) and Adam; what cannot be
/// split (one image over the limit) is refused with an error naming the kernel and the sizes.
#[test]
fn work_over_the_binding_limit_is_split_or_refused_clearly() {
    let gpu = small_gpu();
    let limit = gpu.max_binding();
    let mut rng = Rng::new(55);
    // linear with a weight just over the limit: [out, in] with in = 8192
    let (n, i) = (2usize, 8192usize);
    let o = (limit as usize / 4 / i) + 70;
    let x = rng.vec(n * i);
    let w: Vec<f64> = (0..o * i).map(|k| ((k % 1013) as f64 / 1013.0 - 0.5) as f32 as f64).collect();
    let dy = rng.vec(n * o);
    let (xt, wt, dyt) = (up(&x, &[n, i]), up(&w, &[o, i]), up(&dy, &[n, o]));
    assert!(wt.bytes() > limit);
    let y = heft::ops::linear::forward(&xt, &wt, None).unwrap();
    // 8192-term f32 dot products whose sums cancel: tolerance on the scale of the terms
    assert_close("big linear y", &download(&y), &reference::linear::forward(&x, &w, None, n, i, o), 1e-4, 1e-4);
    let (dx, dw, _) = heft::ops::linear::backward(&xt, &wt, &dyt, true).unwrap();
    let (rdx, rdw, _) = reference::linear::backward(&x, &w, &dy, n, i, o);
    assert_close("big linear dx", &download(&dx.unwrap()), &rdx, 1e-4, 1e-4);
    assert_close_red("big linear dw", &download(&dw), &rdw);
    // element-wise, reductions and Adam over the same big tensors
    let r = download(&heft::ops::relu::forward(&wt).unwrap());
    assert_close("big relu", &r, &reference::relu::forward(&w), 0.0, 0.0);
    let s = download(&reduce::sum(&wt).unwrap())[0];
    assert_close("big sum", &[s], &[w.iter().sum::<f64>()], 1.0, 1e-4);
    let m = heft::ops::elementwise::full(&gpu, &[o, i], 0.0).unwrap();
    let v = heft::ops::elementwise::full(&gpu, &[o, i], 0.0).unwrap();
    let cfg = heft::ops::optim::AdamCfg { lr: 0.1, ..Default::default() };
    heft::ops::optim::adam(&wt, &dw, &m, &v, &cfg, 1, heft::ops::optim::GradClip::None).unwrap();
    let after = download(&wt);
    for k in [0, 1, o * i / 2, o * i - 1] {
        // first Adam step moves each weight by lr * sign(g) (|m̂|/sqrt(v̂) = 1)
        let want = w[k] - 0.1 * rdw[k].signum();
        assert!((after[k] - want).abs() < 1e-4 || rdw[k] == 0.0, "adam[{k}]: {} vs {want}", after[k]);
    }
    // concat splits by images; one image over the limit cannot be split: refused clearly
    let big4 = wt.reshape(&[1, o, i, 1]).unwrap();
    let e = heft::ops::concat::forward(&[&big4, &big4]).unwrap_err().to_string();
    assert!(e.contains("concat") && e.contains("the device allows"), "{e}");
    let e = heft::Tensor::empty(&gpu, &[0, 3], heft::DType::F32).unwrap_err().to_string();
    assert!(e.contains("zero-sized"), "{e}");
}

/// Pooling, batch norm, concatenation, per-image maxima, convolution and per-channel reductions
/// over the storage-binding limit run in chunks of whole planes or images. x is [N, 309, 33, 33] with N
/// chosen so that x is just over the limit; the odd plane size makes the chunks' alignment matter.
#[test]
fn image_ops_over_the_binding_limit_run_in_chunks() {
    let gpu = small_gpu();
    let limit = gpu.max_binding() as usize;
    let (c, h, w) = (309, 33, 33);
    let n = limit / (c * h * w * 4) + 2;
    let (hw, planes) = (h * w, n * c);
    let mut rng = Rng::new(56);
    let x = rng.vec(n * c * hw);
    let xt = up(&x, &[n, c, h, w]);
    assert!(xt.bytes() as usize > limit);

    // pooling: AlexNet's 3x3 stride-2 window
    let pool = Pool { kernel: 3, stride: 2, pad: 0, ceil: false };
    let (y, idx) = maxpool::forward(&xt, pool).unwrap();
    let (oh, ow) = (y.shape()[2], y.shape()[3]);
    let (ry, ridx) = reference::maxpool::forward(&x, planes, h, w, oh, ow, 3, 2, 0);
    assert_close("big maxpool y", &download(&y), &ry, 0.0, 0.0);
    let dy = rng.vec(y.numel());
    let dx = maxpool::backward(&[n, c, h, w], &idx, &up(&dy, y.shape()), pool).unwrap();
    assert_close("big maxpool dx", &download(&dx), &reference::maxpool::backward(&dy, &ridx, planes, h, w), 1e-6, 0.0);
    let kind = AvgPool::Window(pool);
    let y = avgpool::forward(&xt, kind).unwrap();
    let fixed = Some((3, 2, 0));
    assert_close("big avgpool y", &download(&y), &reference::avgpool::forward(&x, planes, h, w, oh, ow, fixed), 1e-6, 1e-6);
    let dx = avgpool::backward(&[n, c, h, w], &up(&dy, y.shape()), kind).unwrap();
    assert_close("big avgpool dx", &download(&dx), &reference::avgpool::backward(&dy, planes, h, w, oh, ow, fixed), 1e-6, 1e-6);

    // batch norm: per-channel statistics over a tensor over the limit, then apply and backward
    let (gamma, beta) = (rng.vec(c), rng.vec(c));
    let (gt, bt) = (up(&gamma, &[c]), up(&beta, &[c]));
    let (rmt, rvt) = (up(&vec![0.0; c], &[c]), up(&vec![1.0; c], &[c]));
    let (y, saved) = batchnorm::forward_train(&xt, &gt, &bt, &rmt, &rvt, 1e-5, 0.1).unwrap();
    let (ry, _, mean, var) = reference::batchnorm::forward_train(&x, n, c, hw, &gamma, &beta, 1e-5);
    assert_close_red("big bn y", &download(&y), &ry);
    // the running statistics move once, not once per chunk of images
    let (mut rm, mut rv) = (vec![0.0; c], vec![1.0; c]);
    reference::batchnorm::update_running(&mut rm, &mut rv, &mean, &var, n * hw, 0.1);
    assert_close_red("big bn running mean", &download(&rmt), &rm);
    assert_close_red("big bn running var", &download(&rvt), &rv);
    drop(y);
    let dyb = rng.vec(x.len());
    let (dx, dg, db) = batchnorm::backward(&up(&dyb, &[n, c, h, w]), &gt, &saved).unwrap();
    let (rdx, rdg, rdb) = reference::batchnorm::backward(&x, &dyb, n, c, hw, &gamma, 1e-5);
    assert_close("big bn dx", &download(&dx), &rdx, 2e-5, 1e-3);
    // sums of ~N*HW terms of f32 products
    assert_close("big bn dgamma", &download(&dg), &rdg, 1e-2, 1e-4);
    assert_close("big bn dbeta", &download(&db), &rdb, 1e-2, 1e-4);
    drop((dx, saved));

    // the quadratic activation: dx by quad.wgsl's own backward over views, the coefficient
    // sums by moments over chunks (below the limit reduce.wgsl's mode 9 does both in one pass)
    let coef = [0.1, 0.7, 0.3];
    let ct = up(&coef, &[3]);
    let (dxq, dc) = heft::ops::quad::backward(&xt, &ct, 0.75, &up(&dyb, &[n, c, h, w]), false).unwrap();
    let (rdxq, rdc) = reference::quad::backward(&x, &coef, 0.75, &dyb);
    assert_close("big quad dx", &download(&dxq), &rdxq, 1e-5, 1e-5);
    assert_close("big quad dcoef", &download(&dc), &rdc, 1e-1, 1e-4);
    drop(dxq);

    // concat along channels (a fire module's expand outputs) and its split
    let y = concat::forward(&[&xt, &xt]).unwrap();
    assert_close("big concat", &download(&y), &reference::concat::forward(&[(&x, c), (&x, c)], n, hw), 0.0, 0.0);
    let parts = concat::backward(&y, &[c, c]).unwrap();
    assert_close("big split", &download(&parts[1]), &x, 0.0, 0.0);
    drop((y, parts));

    // per-image maxima and minima (the eval pass's peaks): [1, N, C·H·W], chunks of whole images
    let mm = heft::ops::elementwise::full(&gpu, &[2 * n], 0.0).unwrap();
    let dims = (1, n, c * hw);
    reduce::reduce_into(&xt, None, None, dims, reduce::Mode::Max, 1.0, &mm, 0).unwrap();
    reduce::reduce_into(&xt, None, None, dims, reduce::Mode::Min, 1.0, &mm, n).unwrap();
    let images = x.chunks(c * hw);
    let want: Vec<f64> = images.clone().map(|v| v.iter().fold(f64::MIN, |a, &b| a.max(b))).chain(images.map(|v| v.iter().fold(f64::MAX, |a, &b| a.min(b)))).collect();
    assert_close("big per-image max, min", &download(&mm), &want, 0.0, 0.0);

    // convolution 3x3, stride 2, padding 1, two output channels
    let g = reference::conv2d::Geom { n, c, h, w, co: 2, kh: 3, kw: 3, stride: 2, pad: 1 };
    let wv: Vec<f64> = rng.vec(2 * c * 9).iter().map(|v| v * 0.05).collect();
    let wt = up(&wv, &[2, c, 3, 3]);
    let ry = reference::conv2d::forward(&x, &wv, None, &g);
    let dyc = rng.vec(ry.len());
    let dyt = up(&dyc, &[n, 2, g.oh(), g.ow()]);
    let (rdx, rdw, rdb) = reference::conv2d::backward(&x, &wv, &dyc, &g);
    for (name, form) in heft::ops::conv2d::FORMS {
        let y = heft::ops::conv2d::forward_with(form, &xt, &wt, None, 2, 1, false).unwrap();
        // 2781-term dot products of values around 1
        assert_close(&format!("big conv {name} y"), &download(&y), &ry, 1e-4, 1e-4);
        drop(y);
        let (dx, dw, db) = heft::ops::conv2d::backward_with(form, &xt, &wt, &dyt, 2, 1, true).unwrap();
        assert_close_red(&format!("big conv {name} dx"), &download(&dx.unwrap()), &rdx);
        // sums over N*OH*OW = tens of thousands of terms
        assert_close(&format!("big conv {name} dw"), &download(&dw), &rdw, 1e-2, 1e-4);
        assert_close(&format!("big conv {name} db"), &download(&db), &rdb, 1e-2, 1e-4);
    }
}
