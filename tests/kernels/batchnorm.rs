//! BatchNorm2d (train: batch statistics and running averages; eval) and its backward vs the CPU
//! reference; the reference backward (chain rule) vs finite differences.

use crate::common::*;
use heft::ops::batchnorm;
use heft::reference::batchnorm as rbn;

#[test]
fn batchnorm_train_eval_and_backward_match_reference() {
    let mut rng = Rng::new(40);
    // (4, 16, 9, 9): runs of 8 over planes of 81 need 704 threads, more than one workgroup
    for &(n, c, h, w) in &[(1, 1, 2, 2), (2, 3, 5, 7), (4, 16, 3, 3), (3, 5, 1, 1), (4, 16, 9, 9)] {
        let hw = h * w;
        let x: Vec<f64> = rng.vec(n * c * hw).iter().map(|v| v * 4.0 + 1.5).collect();
        let (gamma, beta) = (rng.vec(c), rng.vec(c));
        let (mut rm, mut rv) = (vec![0.0; c], vec![1.0; c]);
        let (rmt, rvt) = (upload(&rm, &[c]), upload(&rv, &[c]));
        let xt = upload(&x, &[n, c, h, w]);
        let (gt, bt) = (upload(&gamma, &[c]), upload(&beta, &[c]));
        let (y, saved) = batchnorm::forward_train(&xt, &gt, &bt, &rmt, &rvt, 1e-5, 0.1).unwrap();
        let (ry, _, mean, var) = rbn::forward_train(&x, n, c, hw, &gamma, &beta, 1e-5);
        assert_close_red("bn y", &download(&y), &ry);
        rbn::update_running(&mut rm, &mut rv, &mean, &var, n * hw, 0.1);
        if n * hw > 1 {
            assert_close_red("bn running mean", &download(&rmt), &rm);
            assert_close_red("bn running var", &download(&rvt), &rv);
        }
        let ye = batchnorm::forward_eval(&xt, &gt, &bt, &rmt, &rvt, 1e-5).unwrap();
        let rye = rbn::forward_eval(&x, (c, hw), &gamma, &beta, (&download(&rmt), &download(&rvt)), 1e-5);
        assert_close_red("bn eval", &download(&ye), &rye);
        let dy = rng.vec(x.len());
        let (dx, dg, db) = batchnorm::backward(&upload(&dy, &[n, c, h, w]), &gt, &saved).unwrap();
        let (rdx, rdg, rdb) = rbn::backward(&x, &dy, n, c, hw, &gamma, 1e-5);
        // dx subtracts nearly equal sums: tolerance relative to the size of its terms
        assert_close("bn dx", &download(&dx), &rdx, 2e-5, 1e-3);
        assert_close_red("bn dgamma", &download(&dg), &rdg);
        assert_close_red("bn dbeta", &download(&db), &rdb);
    }
}

#[test]
fn batchnorm_reference_gradients_match_finite_differences() {
    let mut rng = Rng::new(41);
    let (n, c, hw) = (3, 2, 4);
    let x = rng.vec(n * c * hw);
    let (gamma, beta, r) = (rng.vec(c), rng.vec(c), rng.vec(n * c * hw));
    let (dx, dg, db) = rbn::backward(&x, &r, n, c, hw, &gamma, 1e-5);
    let f = |x: &[f64], g: &[f64], b: &[f64]| dot(&r, &rbn::forward_train(x, n, c, hw, g, b, 1e-5).0);
    assert_close("fd bn dx", &dx, &numeric_grad(&x, 1e-6, |x| f(x, &gamma, &beta)), 1e-6, 1e-5);
    assert_close("fd bn dgamma", &dg, &numeric_grad(&gamma, 1e-6, |g| f(&x, g, &beta)), 1e-6, 1e-5);
    assert_close("fd bn dbeta", &db, &numeric_grad(&beta, 1e-6, |b| f(&x, &gamma, b)), 1e-6, 1e-5);
}
