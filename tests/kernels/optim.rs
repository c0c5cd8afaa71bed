//! Adam/AdamW, SGD with momentum and gradient clipping vs the CPU reference (PyTorch semantics).

use crate::common::*;
use heft::ops::optim::{self, AdamCfg, GradClip};
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
            optim::adam(&pt, &upload(&g, &[n]), &mt, &vt, &cfg, step, GradClip::None).unwrap();
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
            optim::sgd(&pt, &upload(&g, &[n]), &bt, 0.1, momentum as f32, 1e-3, GradClip::None).unwrap();
            ropt::sgd(&mut p, &g, &mut buf, 0.1, momentum, 1e-3);
        }
        assert_close("sgd p", &download(&pt), &p, 1e-6, 1e-5);
    }
}

#[test]
fn updates_clip_their_gradients_as_the_reference_clips_them_first() {
    // PyTorch clips the gradients (clip_grad_value_ / clip_grad_norm_), then the optimiser
    // steps: the reference does exactly that; heft clips inside the update
    let mut rng = Rng::new(72);
    let (n, k) = (500, 77);
    let g: Vec<f64> = rng.vec(n).iter().map(|v| v * 3.0).collect();
    let h = rng.vec(k);
    let (gt, ht) = (upload(&g, &[n]), upload(&h, &[k]));
    // the norm-clipping factor over two tensors
    let scale = optim::norm_scale(&[&gt, &ht], 2.0).unwrap();
    let want = ropt::clip_norm_scale(&[&g, &h], 2.0);
    assert!(want < 1.0, "the test must actually clip");
    assert_close_red("clip norm scale", &download(&scale), &[want]);
    assert_close("below the threshold: 1", &download(&optim::norm_scale(&[&upload(&[0.1, 0.2], &[2])], 10.0).unwrap()), &[1.0], 1e-7, 0.0);
    let clipped: [(&str, GradClip, Vec<f64>); 2] =
        [("value", GradClip::Value(1.0), ropt::clip_value(&g, 1.0)), ("norm", GradClip::Scale(&scale), g.iter().map(|v| v * want).collect())];
    for (what, clip, gc) in clipped {
        let p0 = rng.vec(n);
        let cfg = AdamCfg { lr: 1e-2, weight_decay: 5e-4, ..Default::default() };
        let rcfg = ropt::Adam { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 5e-4, decoupled: false };
        let (pt, mt, vt) = (upload(&p0, &[n]), upload(&vec![0.0; n], &[n]), upload(&vec![0.0; n], &[n]));
        let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
        optim::adam(&pt, &gt, &mt, &vt, &cfg, 1, clip).unwrap();
        ropt::adam(&mut p, &gc, &mut m, &mut v, &rcfg, 1);
        assert_close(&format!("adam, clipped by {what}: m"), &download(&mt), &m, 1e-6, 1e-5);
        assert_close(&format!("adam, clipped by {what}: p"), &download(&pt), &p, 1e-6, 1e-5);
        let (pt, bt) = (upload(&p0, &[n]), upload(&vec![0.0; n], &[n]));
        let (mut p, mut buf) = (p0.clone(), vec![0.0; n]);
        optim::sgd(&pt, &gt, &bt, 0.1, 0.9, 1e-3, clip).unwrap();
        ropt::sgd(&mut p, &gc, &mut buf, 0.1, 0.9, 1e-3);
        assert_close(&format!("sgd, clipped by {what}: p"), &download(&pt), &p, 1e-6, 1e-5);
    }
    // the gradient itself is left as it was
    assert_close("gradient untouched", &download(&gt), &g, 0.0, 1e-7);
    assert!(optim::adam(&gt, &gt, &gt, &gt, &AdamCfg::default(), 1, GradClip::Value(-1.0)).is_err());
}
