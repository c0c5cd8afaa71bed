//! Weighted cross-entropy and the distillation loss vs the CPU reference (including large
//! logits for numerical stability), and finite-difference checks of the reference gradients.

use crate::common::*;
use heft::ops::{cross_entropy as ce, distill};
use heft::reference::{cross_entropy as rce, distill as rkd};

#[test]
fn cross_entropy_matches_reference() {
    let mut rng = Rng::new(60);
    for &(n, c, scale) in &[(1, 2, 1.0), (7, 3, 1.0), (300, 10, 5.0), (4, 2, 200.0)] {
        let logits: Vec<f64> = rng.vec(n * c).iter().map(|v| v * scale).collect();
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u32)).collect();
        let weights: Vec<f64> = rng.vec(c).iter().map(|v| v.abs() + 0.1).collect();
        let (lt, wt) = (upload(&logits, &[n, c]), upload(&weights, &[c]));
        let yt = ce::labels(&gpu(), &labels, c).unwrap();
        let (loss, saved) = ce::forward(&lt, &yt, &wt).unwrap();
        let want = rce::forward(&logits, &labels, &weights, c);
        assert_close_red("ce loss", &download(&loss), &[want]);
        let g = upload(&[1.0], &[1]);
        let d = ce::backward(&lt, &yt, &wt, &saved, &g).unwrap();
        assert_close("ce dlogits", &download(&d), &rce::backward(&logits, &labels, &weights, c), 1e-6, 1e-4);
    }
}

#[test]
fn cross_entropy_rejects_out_of_range_labels() {
    let e = ce::labels(&gpu(), &[0, 1, 2], 2).unwrap_err();
    assert!(e.to_string().contains("label 2"), "{e}");
}

#[test]
fn distill_matches_reference() {
    let mut rng = Rng::new(61);
    for &(n, c, t, scale) in &[(1, 2, 1.0, 1.0), (9, 3, 10.0, 4.0), (200, 10, 4.0, 3.0), (3, 2, 1.0, 150.0)] {
        let s: Vec<f64> = rng.vec(n * c).iter().map(|v| v * scale).collect();
        let te: Vec<f64> = rng.vec(n * c).iter().map(|v| v * scale).collect();
        let (st, tt) = (upload(&s, &[n, c]), upload(&te, &[n, c]));
        let loss = distill::forward(&st, &tt, t as f32).unwrap();
        // KL terms cancel: absolute tolerance scaled by T^2
        assert_close("kd loss", &download(&loss), &[rkd::forward(&s, &te, c, t)], 1e-5 * t * t, 1e-4);
        let d = distill::backward(&st, &tt, t as f32, &upload(&[1.0], &[1])).unwrap();
        assert_close("kd dstudent", &download(&d), &rkd::backward(&s, &te, c, t), 1e-6, 1e-4);
    }
}

#[test]
fn loss_reference_gradients_match_finite_differences() {
    let mut rng = Rng::new(62);
    let (n, c) = (4, 3);
    let logits = rng.vec(n * c);
    let labels = [0u32, 2, 1, 2];
    let weights = [0.5, 1.0, 2.0];
    let d = rce::backward(&logits, &labels, &weights, c);
    assert_close("fd ce", &d, &numeric_grad(&logits, 1e-6, |z| rce::forward(z, &labels, &weights, c)), 1e-7, 1e-6);
    let teacher = rng.vec(n * c);
    for t in [1.0, 10.0] {
        let d = rkd::backward(&logits, &teacher, c, t);
        let fd = numeric_grad(&logits, 1e-5, |z| rkd::forward(z, &teacher, c, t));
        assert_close("fd kd", &d, &fd, 1e-7, 1e-5);
    }
}
