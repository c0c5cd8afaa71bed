//! reduce, elementwise, dropout and concat vs the CPU reference; the dispatch checks of parameter
//! blocks against the shader's `struct Params` and of buffer names against its globals.

use crate::common::*;
use heft::ops::reduce::{self, Mode};
use heft::ops::{concat, confusion, dropout, elementwise};
use heft::reference;

/// A reduction mode and the term it sums (or maxes) at (element, channel).
type ModeCheck<'a> = (Mode, Box<dyn Fn(usize, usize) -> f64 + 'a>);

#[test]
fn reduce_modes_match_reference() {
    let mut rng = Rng::new(50);
    for &(o, c, i) in &[(1, 1, 1), (3, 5, 7), (1, 1, 100_000), (64, 3, 1000), (2, 300, 2)] {
        let (x, y, aux) = (rng.vec(o * c * i), rng.vec(o * c * i), rng.vec(c));
        let (xt, yt, at) = (upload(&x, &[o * c * i]), upload(&y, &[o * c * i]), upload(&aux, &[c]));
        let modes: [ModeCheck; 7] = [
            (Mode::Min, Box::new(|j, _| -x[j])),
            (Mode::Sum, Box::new(|j, _| x[j])),
            (Mode::Dot, Box::new(|j, _| x[j] * y[j])),
            (Mode::DotSq, Box::new(|j, _| x[j] * y[j] * y[j])),
            (Mode::Max, Box::new(|j, _| x[j])),
            (Mode::SumSq, Box::new(|j, _| x[j] * x[j])),
            (Mode::CenteredSq, Box::new(|j, ch| (x[j] - aux[ch]).powi(2))),
        ];
        for (mode, f) in modes {
            let out = heft::Tensor::zeros(&gpu(), &[c + 1]).unwrap();
            reduce::reduce_into(&xt, Some(&yt), Some(&at), (o, c, i), mode, 0.5, &out, 1).unwrap();
            let extreme = matches!(mode, Mode::Max | Mode::Min);
            let mut want = reference::reduce::channel_reduce(&x, (o, c, i), extreme, 0.5, f);
            if mode == Mode::Min {
                want.iter_mut().for_each(|v| *v = -*v); // min x = -max(-x)
            }
            let got = download(&out);
            assert_eq!(got[0], 0.0, "offset respected");
            let n = (o * i) as f64;
            assert_close(&format!("reduce {mode:?} {o}x{c}x{i}"), &got[1..], &want, 1e-6 * n.sqrt(), 1e-5);
        }
    }
}

#[test]
fn reduce_moments_match_reference_and_the_separate_sums_bit_for_bit() {
    let mut rng = Rng::new(52);
    for &(o, c, i) in &[(1, 1, 5000), (3, 5, 7), (16, 6, 49)] {
        let (x, y) = (rng.vec(o * c * i), rng.vec(o * c * i));
        let (xt, yt) = (upload(&x, &[o * c * i]), upload(&y, &[o * c * i]));
        for terms in 1..=3 {
            let stride = c + 3; // outputs of the terms 3 values apart past C
            let out = heft::Tensor::zeros(&gpu(), &[1 + terms * stride]).unwrap();
            reduce::moments_into(&xt, Some(&yt), (o, c, i), terms, 0.5, &out, 1, stride).unwrap();
            let got = download(&out);
            assert_eq!(got[0], 0.0, "offset respected");
            for (t, mode) in [Mode::Sum, Mode::Dot, Mode::DotSq].into_iter().take(terms).enumerate() {
                let want = reference::reduce::channel_reduce(&x, (o, c, i), false, 0.5, |j, _| x[j] * y[j].powi(t as i32));
                let mine = &got[1 + t * stride..1 + t * stride + c];
                assert_close(&format!("moment {t} of {terms}, {o}x{c}x{i}"), mine, &want, 1e-6 * ((o * i) as f64).sqrt(), 1e-5);
                let single = reduce::channel_sums(&xt, o, c, i, Mode::Sum, 0.5).unwrap();
                reduce::reduce_into(&xt, Some(&yt), None, (o, c, i), mode, 0.5, &single, 0).unwrap();
                let single = single.to_f32().unwrap();
                let bits = |v: &[f64]| v.iter().map(|&v| (v as f32).to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(mine), bits(&single.iter().map(|&v| v as f64).collect::<Vec<_>>()), "{mode:?}: same order, same bits");
            }
        }
    }
    let out = heft::Tensor::zeros(&gpu(), &[8]).unwrap();
    let xt = upload(&[1.0; 4], &[4]);
    let e = reduce::moments_into(&xt, None, (1, 1, 4), 2, 1.0, &out, 0, 1).unwrap_err().to_string();
    assert!(e.contains("y needed"), "{e}");
}

#[test]
fn reduce_mean_var_matches_the_two_pass_reference_even_far_from_zero() {
    let mut rng = Rng::new(53);
    // one chunk per channel (no finish pass) and many; a mean 1000x the spread
    for &(o, c, i, offset) in &[(3, 5, 7, 0.0), (2, 300, 2, 0.0), (64, 3, 1000, 0.0), (8, 4, 961, 1000.0), (1, 1, 100_000, -50.0)] {
        let x: Vec<f64> = rng.vec(o * c * i).iter().map(|v| (v + offset) as f32 as f64).collect(); // as uploaded
        let xt = upload(&x, &[o, c, i]);
        let stride = c + 4;
        let out = heft::Tensor::zeros(&gpu(), &[1 + 2 * stride]).unwrap();
        // offset 1 is not bindable: use offset 0 and check the gap stays untouched
        reduce::mean_var_into(&xt, (o, c, i), &out, 0, stride).unwrap();
        let got = download(&out);
        let n = (o * i) as f64;
        let mean = reference::reduce::channel_reduce(&x, (o, c, i), false, 1.0 / n, |j, _| x[j]);
        let var = reference::reduce::channel_reduce(&x, (o, c, i), false, 1.0 / n, |j, ch| (x[j] - mean[ch]).powi(2));
        let tol = 1e-6 * n.sqrt();
        assert_close(&format!("mean {o}x{c}x{i}+{offset}"), &got[..c], &mean, tol * (1.0 + offset.abs()), 1e-5);
        assert_close(&format!("var {o}x{c}x{i}+{offset}"), &got[stride..stride + c], &var, tol, 1e-4);
        assert!(got[c..stride].iter().all(|&v| v == 0.0), "nothing written between the two vectors");
    }
}

#[test]
fn reduce_is_deterministic() {
    let mut rng = Rng::new(51);
    let x = upload(&rng.vec(300_001), &[300_001]);
    let a = reduce::sum(&x).unwrap().to_f32().unwrap();
    let b = reduce::sum(&x).unwrap().to_f32().unwrap();
    assert_eq!(a[0].to_bits(), b[0].to_bits());
}

#[test]
fn elementwise_ops_match_reference() {
    let mut rng = Rng::new(52);
    let (x, y) = (rng.vec(1001), rng.vec(1001));
    let (xt, yt) = (upload(&x, &[1001]), upload(&y, &[1001]));
    let want = reference::elementwise::axpby(0.5, &x, -2.0, &y);
    assert_close("add", &download(&elementwise::add(&xt, &yt, 0.5, -2.0).unwrap()), &want, 1e-6, 1e-6);
    assert_close("affine", &download(&elementwise::affine(&xt, 3.0, 1.0).unwrap()), &reference::elementwise::affine(&x, 3.0, 1.0), 1e-6, 1e-6);
    elementwise::accumulate(&yt, &xt, 0.5, -2.0).unwrap();
    assert_close("accumulate", &download(&yt), &want, 1e-6, 1e-6);
    elementwise::fill(&yt, 7.0).unwrap();
    assert!(download(&yt).iter().all(|&v| v == 7.0));
}

#[test]
fn confusion_counts_match_reference_over_two_batches() {
    let mut rng = Rng::new(53);
    let (n, c) = (37, 4);
    let counts = upload(&vec![0.0; c * c], &[c, c]);
    let mut want = vec![0.0; c * c];
    for batch in 0..2 {
        // ties (rounded logits) and NaNs exercise the first-maximum rule
        let mut logits: Vec<f64> = rng.vec(n * c).iter().map(|v| (v * 2.0).round()).collect();
        logits[5 * c + 1] = f64::NAN;
        logits[9 * c] = f64::NAN;
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u32)).collect();
        let labels_t = heft::Tensor::from_u32(&gpu(), &labels, &[n]).unwrap();
        confusion::accumulate(&counts, &upload(&logits, &[n, c]), &labels_t).unwrap();
        reference::confusion::accumulate(&mut want, &logits, &labels, c);
        assert_eq!(download(&counts), want, "after batch {batch}");
    }
    assert_eq!(want.iter().sum::<f64>(), 2.0 * n as f64);
}

#[test]
fn dropout_matches_reference_mask_and_rate() {
    let mut rng = Rng::new(53);
    let x: Vec<f64> = rng.vec(20_000).iter().map(|v| v + 2.0).collect();
    let xt = upload(&x, &[20_000]);
    let y = download(&dropout::apply(&xt, 0.3, 77).unwrap());
    let want = reference::dropout::apply(&x, 0.3, 77, dropout::threshold(0.3));
    assert_close("dropout", &y, &want, 1e-6, 1e-6);
    let rate = y.iter().filter(|v| **v == 0.0).count() as f64 / y.len() as f64;
    assert!((rate - 0.3).abs() < 0.02, "drop rate {rate}");
    let again = download(&dropout::apply(&xt, 0.3, 77).unwrap());
    assert_eq!(y, again, "same seed, same mask");
    assert_ne!(y, download(&dropout::apply(&xt, 0.3, 78).unwrap()), "other seed, other mask");
}

#[test]
fn concat_and_split_match_reference() {
    let mut rng = Rng::new(54);
    let (n, hw) = (2, 3 * 5);
    let (a, b) = (rng.vec(n * 4 * hw), rng.vec(n * 6 * hw));
    let (at, bt) = (upload(&a, &[n, 4, 3, 5]), upload(&b, &[n, 6, 3, 5]));
    let y = concat::forward(&[&at, &bt]).unwrap();
    assert_eq!(y.shape(), &[n, 10, 3, 5]);
    assert_close("concat", &download(&y), &reference::concat::forward(&[(&a, 4), (&b, 6)], n, hw), 0.0, 0.0);
    let parts = concat::backward(&y, &[4, 6]).unwrap();
    assert_close("split a", &download(&parts[0]), &a, 0.0, 0.0);
    assert_close("split b", &download(&parts[1]), &b, 0.0, 0.0);
    // three parts take the copy-per-part path
    let c3 = rng.vec(n * 3 * hw);
    let ct = upload(&c3, &[n, 3, 3, 5]);
    let y = concat::forward(&[&at, &bt, &ct]).unwrap();
    assert_close("concat of 3", &download(&y), &reference::concat::forward(&[(&a, 4), (&b, 6), (&c3, 3)], n, hw), 0.0, 0.0);
    let parts = concat::backward(&y, &[4, 6, 3]).unwrap();
    for (got, want) in parts.iter().zip([&a, &b, &c3]) {
        assert_close("split of 3", &download(got), want, 0.0, 0.0);
    }
    let e = concat::forward(&[&at, &upload(&[0.0; 8], &[1, 2, 2, 2])]).unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");
}

/// A parameter block whose size differs from the shader's `struct Params` is refused with an
/// error naming the kernel and both sizes, before anything is recorded.
#[test]
fn dispatch_refuses_params_of_the_wrong_size() {
    let gpu = gpu();
    let x = upload(&[1.0, -2.0], &[2]);
    let bind = [("x", x.bind()), ("out", x.bind())];
    match gpu.dispatch("relu", "forward", &[2u32, 0], &bind, [1, 1, 1]) {
        Err(heft::Error::Invalid(e)) => assert!(e.contains("relu::forward") && e.contains("8 bytes") && e.contains("is 4 bytes"), "{e}"),
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

/// Buffers are bound by the names of the shader's globals: a name the shader lacks, or a used
/// global left out, is refused with an error naming the kernel and the buffer.
#[test]
fn dispatch_refuses_unknown_and_missing_buffer_names() {
    let gpu = gpu();
    let x = upload(&[1.0, -2.0], &[2]);
    let cases = [
        (vec![("x", x.bind()), ("y", x.bind())], "relu::forward: the shader has no buffer `y` (it has x, dy, out)"),
        (vec![("x", x.bind())], "relu::forward: buffer `out` (@binding(3)) was not provided"),
    ];
    for (bind, want) in cases {
        match gpu.dispatch("relu", "forward", &[2u32], &bind, [1, 1, 1]) {
            Err(heft::Error::Invalid(e)) => assert_eq!(e, want),
            other => panic!("expected Error::Invalid, got {other:?}"),
        }
    }
}
