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

/// The GEMM wrapper refuses any output map, operand or bias that would make the shader index
/// outside a binding (wgpu would clamp or drop such accesses silently); an exact fit is accepted.
#[test]
fn matmul_refuses_out_of_bounds_maps_and_operands() {
    use matmul::{matmul_into, Bias, OutMap};
    let (m, n, kp) = (3, 5, 4);
    let a = upload(&vec![1.0; m * kp], &[m, kp]);
    let b = upload(&vec![1.0; n * kp], &[n, kp]);
    let c = upload(&vec![0.0; m * n], &[m, n]);
    matmul_into(&a, &b, m, n, kp, Bias::None, &c, OutMap::row_major(n), false).unwrap();
    assert_close("exact fit", &download(&c), &vec![4.0; m * n], 0.0, 0.0);
    let shifted = OutMap { base: 1, ..OutMap::row_major(n) };
    let e = matmul_into(&a, &b, m, n, kp, Bias::None, &c, shifted, false).unwrap_err().to_string();
    assert!(e.contains("reaches element 15"), "{e}");
    let e = matmul_into(&a, &b, m + 1, n, kp, Bias::None, &c, OutMap::row_major(n), false).unwrap_err().to_string();
    assert!(e.contains("do not hold"), "{e}");
    let short = upload(&[0.0; 2], &[2]);
    let e = matmul_into(&a, &b, m, n, kp, Bias::Rows(&short), &c, OutMap::row_major(n), false).unwrap_err().to_string();
    assert!(e.contains("shorter than 3"), "{e}");
}
