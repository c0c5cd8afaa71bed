//! Linear layer (pack + matmul + reduce) vs the CPU reference.

use crate::common::*;
use heft::ops::linear;
use heft::reference::linear as rlin;

#[test]
fn linear_forward_and_backward_match_reference() {
    let mut rng = Rng::new(10);
    for &(n, i, o) in &[(1, 1, 1), (2, 7, 3), (5, 64, 10), (9, 130, 67)] {
        let (x, w, b, dy) = (rng.vec(n * i), rng.vec(o * i), rng.vec(o), rng.vec(n * o));
        let (xt, wt) = (upload(&x, &[n, i]), upload(&w, &[o, i]));
        let y = linear::forward(&xt, &wt, Some(&upload(&b, &[o]))).unwrap();
        assert_close_red("linear y", &download(&y), &rlin::forward(&x, &w, Some(&b), n, i, o));
        let (dx, dw, db) = linear::backward(&xt, &wt, &upload(&dy, &[n, o]), true).unwrap();
        let (rdx, rdw, rdb) = rlin::backward(&x, &w, &dy, n, i, o);
        assert_close_red("linear dx", &download(&dx.unwrap()), &rdx);
        assert_close_red("linear dw", &download(&dw), &rdw);
        assert_close_red("linear db", &download(&db), &rdb);
    }
}

#[test]
fn linear_reference_gradients_match_finite_differences() {
    let mut rng = Rng::new(11);
    let (n, i, o) = (3, 4, 2);
    let (x, w, b, r) = (rng.vec(n * i), rng.vec(o * i), rng.vec(o), rng.vec(n * o));
    let (dx, dw, _) = rlin::backward(&x, &w, &r, n, i, o);
    assert_close("fd dx", &dx, &numeric_grad(&x, 1e-6, |x| dot(&r, &rlin::forward(x, &w, Some(&b), n, i, o))), 1e-7, 1e-6);
    assert_close("fd dw", &dw, &numeric_grad(&w, 1e-6, |w| dot(&r, &rlin::forward(&x, w, Some(&b), n, i, o))), 1e-7, 1e-6);
}

#[test]
fn linear_rejects_mismatched_features() {
    let e = linear::forward(&upload(&[0.0; 6], &[2, 3]), &upload(&[0.0; 8], &[2, 4]), None).unwrap_err();
    assert!(e.to_string().contains("3 features"), "{e}");
}
