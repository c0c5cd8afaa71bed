//! ReLU, the trainable quadratic and the ReLU→quadratic blend vs the CPU reference, with
//! finite-difference checks of every gradient (dx and dc0, dc1, dc2).

use crate::common::*;
use heft::ops::{quad, relu};
use heft::reference::{quad as rquad, relu as rrelu};

#[test]
fn relu_matches_reference() {
    let mut rng = Rng::new(30);
    let (x, dy) = (rng.vec(1000), rng.vec(1000));
    let xt = upload(&x, &[10, 100]);
    assert_close("relu y", &download(&relu::forward(&xt).unwrap()), &rrelu::forward(&x), 0.0, 0.0);
    assert_close("relu dx", &download(&relu::backward(&xt, &upload(&dy, &[10, 100])).unwrap()), &rrelu::backward(&x, &dy), 0.0, 0.0);
}

#[test]
fn quad_and_blend_match_reference() {
    let mut rng = Rng::new(31);
    let c = [0.1, 0.5, 0.25];
    for &(n, r) in &[(1usize, 1.0), (777, 1.0), (5000, 0.3), (300, 0.0)] {
        let x: Vec<f64> = rng.vec(n).iter().map(|v| v * 3.0).collect();
        let dy = rng.vec(n);
        let (xt, ct) = (upload(&x, &[n]), upload(&c, &[3]));
        let y = quad::forward(&xt, &ct, r as f32).unwrap();
        assert_close("quad y", &download(&y), &rquad::forward(&x, &c, r), 1e-6, 1e-6);
        let (dx, dc) = quad::backward(&xt, &ct, r as f32, &upload(&dy, &[n]), false).unwrap();
        let (rdx, rdc) = rquad::backward(&x, &c, r, &dy);
        assert_close("quad dx", &download(&dx), &rdx, 1e-6, 1e-6);
        assert_close_red("quad dcoef", &download(&dc), &rdc);
    }
}

/// A linearised (affine) activation: c2 = 0, the same dx as the reference with c2 = 0, the
/// reference's dc0 and dc1, and dc2 exactly 0 (so no optimiser moves c2 off 0).
#[test]
fn affine_activation_has_no_x_squared_gradient() {
    let mut rng = Rng::new(32);
    let c = [0.1, 0.5, 0.0];
    for &(n, r) in &[(777usize, 1.0), (300, 0.4)] {
        let x: Vec<f64> = rng.vec(n).iter().map(|v| v * 3.0).collect();
        let dy = rng.vec(n);
        let (dx, dc) = quad::backward(&upload(&x, &[n]), &upload(&c, &[3]), r as f32, &upload(&dy, &[n]), true).unwrap();
        let (rdx, rdc) = rquad::backward(&x, &c, r, &dy);
        assert_close("affine dx", &download(&dx), &rdx, 1e-6, 1e-6);
        let dc = download(&dc);
        assert_close_red("affine dc0, dc1", &dc[..2], &rdc[..2]);
        assert!(rdc[2].abs() > 1e-3, "the reference's dc2 is not 0, so the test can fail");
        assert_eq!(dc[2], 0.0);
    }
}

#[test]
fn quad_reference_gradients_match_finite_differences() {
    let mut rng = Rng::new(32);
    // keep x away from 0 where the ReLU part of the blend has a kink
    let x: Vec<f64> = rng.vec(50).iter().map(|v| if v.abs() < 0.05 { 0.5 } else { v * 2.0 }).collect();
    let dy = rng.vec(50);
    for r in [1.0, 0.4] {
        let c = [0.2, -0.3, 0.7];
        let (dx, dc) = rquad::backward(&x, &c, r, &dy);
        let fdx = numeric_grad(&x, 1e-6, |x| dot(&dy, &rquad::forward(x, &c, r)));
        assert_close("fd quad dx", &dx, &fdx, 1e-7, 1e-6);
        let fdc = numeric_grad(&c, 1e-6, |c| dot(&dy, &rquad::forward(&x, &[c[0], c[1], c[2]], r)));
        assert_close("fd quad dcoef", &dc, &fdc, 1e-7, 1e-6);
    }
}

#[test]
fn quad_rejects_bad_ratio_and_coefficients() {
    let x = upload(&[1.0; 4], &[4]);
    assert!(quad::forward(&x, &upload(&[0.0; 3], &[3]), 1.5).unwrap_err().to_string().contains("blend ratio"));
    assert!(quad::forward(&x, &upload(&[0.0; 2], &[2]), 1.0).unwrap_err().to_string().contains("coefficients"));
}

#[test]
fn range_penalty_matches_reference() {
    let mut rng = Rng::new(33);
    for (scale, r) in [(1.0, 10.0), (20.0, 10.0), (20.0, 3.0)] {
        let mut x: Vec<f64> = rng.vec(999).iter().map(|v| v * scale).collect();
        x[17] = -scale * 1.5; // a clear minimum
        let xt = upload(&x, &[999]);
        let (loss, mm) = heft::ops::range::forward(&xt, r as f32).unwrap();
        assert_close("range loss", &download(&loss), &[heft::reference::range::forward(&x, r)], 1e-5, 1e-6);
        let dx = heft::ops::range::backward(&xt, &mm, r as f32, &upload(&[1.0], &[1])).unwrap();
        assert_close("range dx", &download(&dx), &heft::reference::range::backward(&x, r), 0.0, 0.0);
    }
}
