//! conv2d in both forms (im2col + matmul + col2im + reduce; and conv2d_direct) vs the direct
//! CPU convolution, and a finite-difference check of the reference gradients.

use crate::common::*;
use heft::ops::{col2im, conv2d, im2col};
use heft::reference::conv2d::{self as rconv, Geom};
use heft::reference;

fn cases() -> Vec<Geom> {
    let g = |n, c, h, w, co, k, stride, pad| Geom { n, c, h, w, co, kh: k, kw: k, stride, pad };
    vec![
        g(1, 1, 5, 5, 1, 3, 1, 0),
        g(2, 3, 9, 7, 5, 3, 2, 1),
        g(3, 4, 11, 11, 6, 5, 1, 2),
        g(2, 3, 23, 23, 8, 11, 4, 5), // AlexNet conv1 geometry, shrunk
        g(1, 5, 6, 8, 3, 1, 1, 0),    // 1x1 (SqueezeNet squeeze/expand)
        g(3, 10, 5, 7, 13, 1, 1, 0),  // 1x1 on several images, edges of the 8x8 tiles
        g(2, 4, 7, 7, 5, 1, 2, 0),    // 1x1 with stride 2: unfolded, not pointwise
        g(2, 18, 7, 6, 20, 3, 1, 1),  // 16-channel blocks of conv2d_direct, partly filled
        g(1, 17, 9, 9, 33, 3, 2, 0),  // stride 2, no padding, three channel blocks
    ]
}

#[test]
fn conv2d_forward_and_backward_match_reference_in_both_forms() {
    let mut rng = Rng::new(3);
    for g in cases() {
        let x = rng.vec(g.n * g.c * g.h * g.w);
        let w = rng.vec(g.co * g.c * g.kh * g.kw);
        let b = rng.vec(g.co);
        let dy = rng.vec(g.n * g.co * g.oh() * g.ow());
        let (xt, wt, bt) = (upload(&x, &[g.n, g.c, g.h, g.w]), upload(&w, &[g.co, g.c, g.kh, g.kw]), upload(&b, &[g.co]));
        let dyt = upload(&dy, &[g.n, g.co, g.oh(), g.ow()]);
        let ry = rconv::forward(&x, &w, Some(&b), &g);
        let (rdx, rdw, rdb) = rconv::backward(&x, &w, &dy, &g);
        for (name, form) in conv2d::FORMS {
            let y = conv2d::forward_with(form, &xt, &wt, Some(&bt), g.stride, g.pad, false).unwrap();
            assert_eq!(y.shape(), &[g.n, g.co, g.oh(), g.ow()]);
            assert_close_red(&format!("conv2d {name} {g:?}"), &download(&y), &ry);
            // the ReLU fused into the same pass
            let yr = conv2d::forward_with(form, &xt, &wt, Some(&bt), g.stride, g.pad, true).unwrap();
            let ryr: Vec<f64> = ry.iter().map(|v| v.max(0.0)).collect();
            assert!(ryr.contains(&0.0) && ryr.iter().any(|&v| v > 0.0), "the case must have both signs");
            assert_close_red(&format!("conv2d {name} with ReLU {g:?}"), &download(&yr), &ryr);
            let (dx, dw, db) = conv2d::backward_with(form, &xt, &wt, &dyt, g.stride, g.pad, true).unwrap();
            assert_close_red(&format!("conv2d {name} dx {g:?}"), &download(&dx.unwrap()), &rdx);
            assert_close_red(&format!("conv2d {name} dw {g:?}"), &download(&dw), &rdw);
            assert_close_red(&format!("conv2d {name} db {g:?}"), &download(&db), &rdb);
            let (dx, dw2, _) = conv2d::backward_with(form, &xt, &wt, &dyt, g.stride, g.pad, false).unwrap();
            assert!(dx.is_none());
            assert_close_red(&format!("conv2d {name} dw without dx"), &download(&dw2), &rdw);
        }
    }
}

#[test]
fn im2col_and_col2im_match_reference() {
    let mut rng = Rng::new(4);
    // 3x3 fields at stride 2 over 5x6 images: 3x3 = 9 pixels an image, K = 27 taps, so both
    // layouts have zero padding columns (rows of 28 and of 12 values)
    let g = Geom { n: 2, c: 3, h: 5, w: 6, co: 1, kh: 3, kw: 3, stride: 2, pad: 1 };
    let x = rng.vec(g.n * g.c * g.h * g.w);
    let xt = upload(&x, &[g.n, g.c, g.h, g.w]);
    let geom = conv2d::geometry(&xt, &upload(&vec![0.0; 27], &[1, 3, 3, 3]), 2, 1).unwrap();
    let (k, kp) = (g.c * 9, 28);
    // rows of `width` values from rows of `cols`, zero-padded
    let padded = |v: &[f64], cols: usize, width: usize| -> Vec<f64> { v.chunks(cols).flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(0.0, width - cols))).collect() };
    let col = im2col::im2col(&xt, &geom, 0, 2, false, kp).unwrap();
    let rcol = reference::im2col::im2col(&x, &g);
    assert_close("im2col", &download(&col), &padded(&rcol, k, kp), 0.0, 0.0);
    assert!(im2col::im2col(&xt, &geom, 0, 2, false, k).unwrap_err().to_string().contains("multiple of 4"));
    let dx = heft::Tensor::zeros(&gpu(), &[g.n, g.c, g.h, g.w]).unwrap();
    let rcol_t = upload(&rcol, &[rcol.len() / k, k]);
    col2im::col2im(&rcol_t, &geom, 0, 2, &dx).unwrap();
    assert_close_red("col2im", &download(&dx), &reference::col2im::col2im(&rcol, &g));
    // a chunk that starts at image 1 (conv2d's image chunks): its rows are image 1's, in both
    // layouts, and col2im folds them onto image 1 only
    let rows = rcol.len() / 2;
    let second = im2col::im2col(&xt, &geom, 1, 1, false, kp).unwrap();
    assert_close("im2col chunk", &download(&second), &padded(&rcol[rows..], k, kp), 0.0, 0.0);
    let p = rows / k;
    assert_eq!(p, 9);
    let t = download(&im2col::im2col(&xt, &geom, 1, 1, true, 12).unwrap());
    let want_t: Vec<f64> = (0..k).flat_map(|kk| (0..p).map(move |r| (kk, r))).map(|(kk, r)| rcol[rows + r * k + kk]).collect();
    assert_close("im2col chunk transposed", &t, &padded(&want_t, p, 12), 0.0, 0.0);
    let second = upload(&rcol[rows..], &[p, k]);
    let dx1 = heft::Tensor::zeros(&gpu(), &[g.n, g.c, g.h, g.w]).unwrap();
    col2im::col2im(&second, &geom, 1, 1, &dx1).unwrap();
    let mut want = reference::col2im::col2im(&rcol, &g);
    want[..g.c * g.h * g.w].fill(0.0);
    assert_close_red("col2im chunk", &download(&dx1), &want);
}

#[test]
fn conv2d_reference_gradients_match_finite_differences() {
    let mut rng = Rng::new(5);
    let g = Geom { n: 2, c: 2, h: 5, w: 4, co: 3, kh: 3, kw: 3, stride: 2, pad: 1 };
    let x = rng.vec(g.n * g.c * g.h * g.w);
    let w = rng.vec(g.co * g.c * 9);
    let b = rng.vec(g.co);
    let r = rng.vec(g.n * g.co * g.oh() * g.ow());
    let (dx, dw, db) = rconv::backward(&x, &w, &r, &g);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| dot(&r, &rconv::forward(x, w, Some(b), &g));
    assert_close("fd dx", &dx, &numeric_grad(&x, 1e-6, |x| loss(x, &w, &b)), 1e-7, 1e-6);
    assert_close("fd dw", &dw, &numeric_grad(&w, 1e-6, |w| loss(&x, w, &b)), 1e-7, 1e-6);
    assert_close("fd db", &db, &numeric_grad(&b, 1e-6, |b| loss(&x, &w, b)), 1e-7, 1e-6);
}

#[test]
fn conv2d_rejects_bad_shapes_with_clear_errors() {
    let x = upload(&[0.0; 2 * 3 * 4 * 4], &[2, 3, 4, 4]);
    let w = upload(&[0.0; 4 * 2 * 3 * 3], &[4, 2, 3, 3]);
    let e = conv2d::forward(&x, &w, None, 1, 0, false).unwrap_err().to_string();
    assert!(e.contains("conv2d") && e.contains("3 channels"), "{e}");
    let w = upload(&[0.0; 4 * 3 * 5 * 5], &[4, 3, 5, 5]);
    let e = conv2d::forward(&x, &w, None, 1, 0, false).unwrap_err().to_string();
    assert!(e.contains("smaller than the kernel"), "{e}");
    let e = conv2d::forward(&x, &w, None, 0, 2, false).unwrap_err().to_string();
    assert!(e.contains("must be positive"), "{e}");
}
