//! `matmul` and `pack` vs the CPU reference.

use crate::common::*;
use heft::ops::{matmul, pack};
use heft::reference;

#[test]
fn matmul_matches_reference_on_odd_sizes() {
    let mut rng = Rng::new(1);
    for &(m, n, k) in &[(1, 1, 1), (3, 5, 7), (65, 63, 17), (130, 70, 129), (8, 200, 4)] {
        let (a, b) = (rng.vec(m * k), rng.vec(n * k));
        let c = matmul::matmul_nt(&upload(&a, &[m, k]), &upload(&b, &[n, k])).unwrap();
        assert_close_red(&format!("matmul {m}x{n}x{k}"), &download(&c), &reference::matmul::matmul_nt(&a, &b, m, n, k));
    }
}

#[test]
fn pack_transposes_and_zero_pads() {
    let mut rng = Rng::new(2);
    let (r, c) = (5, 9);
    let x = rng.vec(r * c);
    let t = pack::transpose_padded(&upload(&x, &[r, c]), 8).unwrap();
    assert_eq!(t.shape(), &[9, 8]);
    assert_close("pack", &download(&t), &reference::pack::transpose_padded(&x, r, c, 8), 0.0, 0.0);
}
