//! Adam/AdamW, SGD with momentum and gradient clipping vs the CPU reference (PyTorch semantics).

use crate::common::*;
use heft::ops::optim::{self, AdamCfg};
use heft::reference::optim as ropt;

#[test]
fn adam_and_adamw_match_reference_over_steps() {
    let mut rng = Rng::new(70);
    for decoupled in [false, true] {
        let n = 1031;
        let mut p = rng.vec(n);
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        let (pt, mt, vt) = (upload(&p, &[n]), upload(&m, &[n]), upload(&v, &[n]));
        let cfg = AdamCfg { lr: 1e-2, weight_decay: 5e-4, decoupled, ..Default::default() };
        let rcfg = ropt::Adam { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 5e-4, decoupled };
        for step in 1..=3 {
            let g = rng.vec(n);
            optim::adam(&pt, &upload(&g, &[n]), &mt, &vt, &cfg, step).unwrap();
            ropt::adam(&mut p, &g, &mut m, &mut v, &rcfg, step);
        }
        assert_close("adam p", &download(&pt), &p, 1e-6, 1e-5);
        assert_close("adam m", &download(&mt), &m, 1e-6, 1e-5);
        assert_close("adam v", &download(&vt), &v, 1e-7, 1e-5);
    }
}

#[test]
fn sgd_matches_reference_with_and_without_momentum() {
    let mut rng = Rng::new(71);
    for momentum in [0.0, 0.9] {
        let n = 257;
        let mut p = rng.vec(n);
        let mut buf = vec![0.0; n];
        let (pt, bt) = (upload(&p, &[n]), upload(&buf, &[n]));
        for _ in 0..3 {
            let g = rng.vec(n);
            optim::sgd(&pt, &upload(&g, &[n]), &bt, 0.1, momentum as f32, 1e-3).unwrap();
            ropt::sgd(&mut p, &g, &mut buf, 0.1, momentum, 1e-3);
        }
        assert_close("sgd p", &download(&pt), &p, 1e-6, 1e-5);
    }
}

#[test]
fn gradient_clipping_matches_reference() {
    let mut rng = Rng::new(72);
    let g: Vec<f64> = rng.vec(500).iter().map(|v| v * 3.0).collect();
    let gt = upload(&g, &[500]);
    optim::clip_value(&gt, 1.0).unwrap();
    assert_close("clip value", &download(&gt), &ropt::clip_value(&g, 1.0), 1e-6, 0.0);
    let (a, b) = (rng.vec(300), rng.vec(77));
    let (at, bt) = (upload(&a, &[300]), upload(&b, &[77]));
    let scale = optim::clip_norm(&[&at, &bt], 2.0).unwrap();
    let want = ropt::clip_norm_scale(&[&a, &b], 2.0);
    assert!(want < 1.0, "the test must actually clip");
    assert_close_red("clip norm scale", &download(&scale), &[want]);
    let sa: Vec<f64> = a.iter().map(|v| v * want).collect();
    assert_close_red("clipped a", &download(&at), &sa);
    // below the threshold nothing changes
    let small = upload(&[0.1, 0.2], &[2]);
    optim::clip_norm(&[&small], 10.0).unwrap();
    assert_close("unclipped", &download(&small), &[0.1, 0.2], 1e-7, 0.0);
}
