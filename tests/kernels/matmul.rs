//! `matmul`, `pack` and `gemm_strided` vs the CPU reference.

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

/// Every GEMM variant the adapter runs (the tuner may pick any of them) against the CPU
/// reference, with odd sizes that cut through every tile edge, with a row or column bias, with
/// accumulation onto what C holds, and with the conv output map (C written as NCHW).
#[test]
fn every_matmul_variant_matches_reference_with_bias_accumulation_and_maps() {
    use matmul::{matmul_into_with, Bias, Gemm, OutMap, VARIANTS};
    let gpu = gpu();
    let mut rng = Rng::new(3);
    let mut ran = Vec::new();
    for (vi, v) in VARIANTS.iter().enumerate() {
        if !v.available(&gpu) {
            eprintln!("SKIPPED variant {}: the adapter lacks subgroups of 8+ invocations", v.name);
            continue;
        }
        ran.push(v.name);
        for &(m, n, k) in &[(1, 1, 1), (3, 5, 7), (65, 63, 17), (130, 200, 129), (9, 300, 68)] {
            let kp = matmul::pad4(k);
            let (a, b) = (rng.vec(m * k), rng.vec(n * k));
            let pad = |x: &[f64], rows: usize| -> Vec<f64> { (0..rows * kp).map(|i| if i % kp < k { x[i / kp * k + i % kp] } else { 0.0 }).collect() };
            let (ap, bp) = (upload(&pad(&a, m), &[m, kp]), upload(&pad(&b, n), &[n, kp]));
            let prod = reference::matmul::matmul_nt(&a, &b, m, n, k);
            // row-major with a column bias
            let bias_n = rng.vec(n);
            let c = upload(&vec![0.0; m * n], &[m, n]);
            matmul_into_with(vi, &Gemm { a: &ap, b: &bp, m, n, kp, bias: Bias::Cols(&upload(&bias_n, &[n])), c: &c, map: OutMap::row_major(n), accumulate: false, relu: false }).unwrap();
            let want: Vec<f64> = (0..m * n).map(|i| prod[i] + bias_n[i % n]).collect();
            assert_close_red(&format!("{} {m}x{n}x{k} bias[n]", v.name), &download(&c), &want);
            // accumulate onto C with a row bias
            let bias_m = rng.vec(m);
            matmul_into_with(vi, &Gemm { a: &ap, b: &bp, m, n, kp, bias: Bias::Rows(&upload(&bias_m, &[m])), c: &c, map: OutMap::row_major(n), accumulate: true, relu: false }).unwrap();
            let want2: Vec<f64> = (0..m * n).map(|i| want[i] + prod[i] + bias_m[i / n]).collect();
            assert_close_red(&format!("{} {m}x{n}x{k} accumulate, bias[m]", v.name), &download(&c), &want2);
            // conv output map: n = image * hw + pixel, written at m*hw + image*(m*hw) + pixel
            if n % 3 == 0 {
                let hw = n / 3;
                let c = upload(&vec![0.0; m * n], &[3, m, hw]);
                let map = OutMap { sm: hw, g: hw, sg: m * hw, sn: 1, base: 0 };
                matmul_into_with(vi, &Gemm { a: &ap, b: &bp, m, n, kp, bias: Bias::None, c: &c, map, accumulate: false, relu: false }).unwrap();
                let mut want = vec![0.0; m * n];
                for (i, &p) in prod.iter().enumerate() {
                    let (row, col) = (i / n, i % n);
                    want[(col / hw) * m * hw + row * hw + col % hw] = p;
                }
                assert_close_red(&format!("{} {m}x{n}x{k} NCHW map", v.name), &download(&c), &want);
            }
        }
    }
    assert!(ran.contains(&"register") && ran.contains(&"tiled128"), "variants without requirements always run: {ran:?}");
}

#[test]
fn pack_transposes_and_zero_pads() {
    let mut rng = Rng::new(2);
    let (r, c) = (5, 9);
    let x = rng.vec(r * c);
    let t = pack::transpose_padded(&upload(&x, &[r, c]), 8).unwrap();
    assert_eq!(t.shape(), &[9, 8]);
    assert_close("pack", &download(&t), &reference::pack::transpose_padded(&x, r, c, 8), 0.0, 0.0);
    // a grouped view: NCHW dy [2, 3, 7] read as [(image, pixel), channel] (conv2d's dyᵀ), and as
    // [channel, (image, pixel)] with a partial last vec4; element (r, k) at the formula of
    // shaders/pack.wgsl's header
    let (n, co, hw) = (2, 3, 7);
    let dy = rng.vec(n * co * hw);
    let view = |base, gr, sgr, sr, gk, sgk, sk| pack::View { base, gr, sgr, sr, gk, sgk, sk };
    let cases = [(n * hw, co, 4, view(0, hw, co * hw, 1, usize::MAX >> 1, 0, hw)), (co, n * hw, 16, view(0, usize::MAX >> 1, 0, hw, hw, co * hw, 1))];
    for (rows, k, kp, v) in cases {
        let got = download(&pack::pack(&upload(&dy, &[n, co, hw]), rows, k, kp, v).unwrap());
        let at = |r: usize, j: usize| v.base + (r / v.gr) * v.sgr + (r % v.gr) * v.sr + (j / v.gk) * v.sgk + (j % v.gk) * v.sk;
        let want: Vec<f64> = (0..rows).flat_map(|r| (0..kp).map(move |j| (r, j))).map(|(r, j)| if j < k { dy[at(r, j)] } else { 0.0 }).collect();
        assert_close(&format!("pack {rows}x{k} into rows of {kp}"), &got, &want, 0.0, 0.0);
    }
    let e = pack::pack(&upload(&dy, &[n, co, hw]), co, n * hw, 15, cases[1].3).unwrap_err().to_string();
    assert!(e.contains("multiple of 4"), "{e}");
}

/// The GEMM wrapper refuses any output map, operand or bias that would make the shader index
/// outside a binding (wgpu would clamp or drop such accesses silently); an exact fit is accepted.
#[test]
fn matmul_refuses_out_of_bounds_maps_and_operands() {
    use matmul::{matmul_into, Bias, Gemm, OutMap};
    let (m, n, kp) = (3, 5, 4);
    let a = upload(&vec![1.0; m * kp], &[m, kp]);
    let b = upload(&vec![1.0; n * kp], &[n, kp]);
    let c = upload(&vec![0.0; m * n], &[m, n]);
    matmul_into(&Gemm { a: &a, b: &b, m, n, kp, bias: Bias::None, c: &c, map: OutMap::row_major(n), accumulate: false, relu: false }).unwrap();
    assert_close("exact fit", &download(&c), &vec![4.0; m * n], 0.0, 0.0);
    let shifted = OutMap { base: 1, ..OutMap::row_major(n) };
    let e = matmul_into(&Gemm { a: &a, b: &b, m, n, kp, bias: Bias::None, c: &c, map: shifted, accumulate: false, relu: false }).unwrap_err().to_string();
    assert!(e.contains("reaches element 15"), "{e}");
    let e = matmul_into(&Gemm { a: &a, b: &b, m: m + 1, n, kp, bias: Bias::None, c: &c, map: OutMap::row_major(n), accumulate: false, relu: false }).unwrap_err().to_string();
    assert!(e.contains("do not hold"), "{e}");
    let short = upload(&[0.0; 2], &[2]);
    let e = matmul_into(&Gemm { a: &a, b: &b, m, n, kp, bias: Bias::Rows(&short), c: &c, map: OutMap::row_major(n), accumulate: false, relu: false }).unwrap_err().to_string();
    assert!(e.contains("shorter than 3"), "{e}");
}

/// (m, n, k, blocks, group), strides of A, B, C (block, row, column group, column), and their
/// lengths: the layouts of the 1×1 convolution's forward, input gradient and weight gradient, and
/// an odd-sized product with two blocks and partial column groups.
type StridedCase = ((usize, usize, usize, usize, usize), [(usize, usize, usize, usize); 3], [usize; 3]);

#[test]
fn strided_gemm_matches_reference_on_conv_layouts_with_bias_and_accumulation() {
    use heft::ops::gemm_strided::{gemm_strided_with, Form, StridedGemm, Strides};
    let mut rng = Rng::new(12);
    let forms: Vec<Form> = [Form::Register, Form::Broadcast].into_iter().filter(|f| f.available(&gpu())).collect();
    assert!(forms.contains(&Form::Register));
    let (n, c, co, hw) = (3, 6, 9, 35); // images, in and out channels, pixels
    let cases: [StridedCase; 5] = [
        // y [Co, (image, pixel)] = W [Co, C] · x [C, (image, pixel)]
        ((co, n * hw, c, 1, hw), [(0, c, 0, 1), (0, hw, c * hw, 1), (0, hw, co * hw, 1)], [co * c, n * c * hw, n * co * hw]),
        // dx = Wᵀ · dy
        ((c, n * hw, co, 1, hw), [(0, 1, 0, c), (0, hw, co * hw, 1), (0, hw, c * hw, 1)], [co * c, n * co * hw, n * c * hw]),
        // dW [Co, C] = sum over images r of dy[r] [Co, HW] · x[r]ᵀ
        ((co, c, hw, n, c), [(co * hw, hw, 0, 1), (c * hw, 1, 0, hw), (0, c, 0, 1)], [n * co * hw, n * c * hw, co * c]),
        // 13 x 11 in column groups of 4 (the last one partial), 2 blocks of 5
        ((13, 11, 5, 2, 4), [(65, 1, 0, 13), (60, 12, 20, 3), (0, 1, 52, 13)], [130, 158, 156]),
        // several blocks of either form in both directions: 70 x 75, K = 9
        ((70, 75, 9, 1, 75), [(0, 9, 0, 1), (0, 75, 0, 1), (0, 75, 0, 1)], [630, 675, 5250]),
    ];
    for (((m, nn, k, blocks, group), [sa, sb, sc], [la, lb, lc]), &form) in cases.iter().flat_map(|c| forms.iter().map(move |f| (*c, f))) {
        let (a, b, bias) = (rng.vec(la), rng.vec(lb), rng.vec(m));
        let st = |s: (usize, usize, usize, usize)| Strides { sr: s.0, si: s.1, sg: s.2, sj: s.3 };
        let want = heft::reference::gemm_strided::gemm_strided(&a, sa, &b, sb, (m, nn, k, blocks, group), Some(&bias), sc, lc);
        let (at, bt, biast) = (upload(&a, &[la]), upload(&b, &[lb]), upload(&bias, &[m]));
        let ct = heft::Tensor::zeros(&gpu(), &[lc]).unwrap();
        let g = StridedGemm { a: &at, sa: st(sa), b: &bt, sb: st(sb), c: &ct, sc: st(sc), m, n: nn, k, blocks, group, bias: Some(&biast), accumulate: false, relu: false };
        gemm_strided_with(form, &g).unwrap();
        assert_close_red(&format!("{form:?} strided gemm {m}x{nn}x{k}, {blocks} blocks, groups of {group}"), &download(&ct), &want);
        // accumulate adds a second product to the first
        gemm_strided_with(form, &StridedGemm { accumulate: true, ..g }).unwrap();
        let twice: Vec<f64> = want.iter().map(|v| 2.0 * v).collect();
        assert_close_red("strided gemm accumulated", &download(&ct), &twice);
        // a C one element too short is refused before anything runs
        let short = heft::Tensor::zeros(&gpu(), &[lc - 1]).unwrap();
        let cut = StridedGemm { c: &short, ..g };
        let e = gemm_strided_with(form, &cut).unwrap_err().to_string();
        assert!(e.contains("reaches element"), "{e}");
    }
}

/// The kernels in `shaders::TRUSTED` run without wgpu's runtime checks unless asked: on
/// in-bounds work both builds must give the same bits, every GEMM variant and the strided GEMM.
#[test]
fn trusted_kernels_give_the_same_bits_with_and_without_runtime_checks() {
    use heft::gpu::AdapterChoice;
    use heft::ops::gemm_strided::{gemm_strided_with, Form, StridedGemm, Strides};
    use matmul::{matmul_into_with, Bias, Gemm, OutMap, VARIANTS};
    let mut rng = Rng::new(13);
    let (m, n, k) = (37, 29, 23);
    let (a, b, bias) = (f32s(&rng.vec(m * k)), f32s(&rng.vec(n * k)), f32s(&rng.vec(m)));
    let run = |g: &heft::Gpu| -> Vec<Vec<f32>> {
        let t = |v: &[f32], s: &[usize]| heft::Tensor::from_f32(g, v, s).unwrap();
        let (at, bt, biast) = (t(&a, &[m, k]), t(&b, &[n, k]), t(&bias, &[m]));
        let (ap, bp) = (pack::pad_cols(&at, matmul::pad4(k)).unwrap(), pack::pad_cols(&bt, matmul::pad4(k)).unwrap());
        let mut outs = Vec::new();
        for (vi, v) in VARIANTS.iter().enumerate().filter(|(_, v)| v.available(g)) {
            let c = heft::Tensor::zeros(g, &[m, n]).unwrap();
            let gemm = Gemm { a: &ap, b: &bp, m, n, kp: matmul::pad4(k), bias: Bias::Rows(&biast), c: &c, map: OutMap::row_major(n), accumulate: false, relu: false };
            matmul_into_with(vi, &gemm).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            outs.push(c.to_f32().unwrap());
        }
        let st = |sr, si, sg, sj| Strides { sr, si, sg, sj };
        for form in [Form::Register, Form::Broadcast].into_iter().filter(|f| f.available(g)) {
            let c = heft::Tensor::zeros(g, &[n, m]).unwrap();
            // Cᵀ [N, M] = B [N, K] · Aᵀ, reading A transposed through its strides
            gemm_strided_with(form, &StridedGemm { a: &bt, sa: st(0, k, 0, 1), b: &at, sb: st(0, 1, 0, k), c: &c, sc: st(0, m, 0, 1), m: n, n: m, k, blocks: 1, group: m, bias: None, accumulate: false, relu: false }).unwrap();
            outs.push(c.to_f32().unwrap());
        }
        outs
    };
    let open = |checks| heft::Gpu::new(&AdapterChoice { shader_checks: checks, ..Default::default() }).expect("tests need a GPU adapter");
    let (checked, trusted) = (run(&open(true)), run(&open(false)));
    let bits = |v: &[Vec<f32>]| v.iter().map(|o| o.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>();
    assert_eq!(bits(&checked), bits(&trusted));
    let want = heft::reference::matmul::matmul_nt(&widen(&b), &widen(&a), n, m, k);
    assert_close_red("strided transposed product", &checked.last().unwrap().iter().map(|&v| v as f64).collect::<Vec<_>>(), &want);
}

/// f32 values as the f64 a reference reads.
fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
