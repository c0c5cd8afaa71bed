//! The tape: gradients of a whole small network against a CPU-reference chain, gradient
//! summing for values used twice, frozen parameters, and a tiny CNN
//! (conv → quad → avgpool → linear) that learns a synthetic two-class task, reproducibly.

mod common;

use common::*;
use heft::nn::functional as F;
use heft::ops::avgpool::AvgPool;
use heft::ops::maxpool::Pool;
use heft::ops::optim::AdamCfg;
use heft::optim::Trainer;
use heft::reference::{self as r, conv2d::Geom};
use heft::tape::{Param, ParamKind, Tape, Var};
use heft::Tensor;

struct Net {
    conv_w: Param,
    conv_b: Param,
    coef: Param,
    fc_w: Param,
    fc_b: Param,
}

const C: usize = 4; // conv channels
const S: usize = 8; // image side

fn net(rng: &mut Rng) -> Net {
    let p = |name: &str, kind, v: Vec<f64>, shape: &[usize]| Param::new(name, kind, upload(&v, shape));
    let scale = |v: Vec<f64>, s: f64| v.into_iter().map(|x| x * s).collect::<Vec<_>>();
    Net {
        conv_w: p("features.0.weight", ParamKind::Weight, scale(rng.vec(C * 9), 0.5), &[C, 1, 3, 3]),
        conv_b: p("features.0.bias", ParamKind::Bias, scale(rng.vec(C), 0.1), &[C]),
        coef: p("features.1.coef", ParamKind::ActCoef, vec![0.0, 0.5, 0.1], &[3]),
        fc_w: p("classifier.weight", ParamKind::Weight, scale(rng.vec(2 * C * 16), 0.2), &[2, C * 16]),
        fc_b: p("classifier.bias", ParamKind::Bias, vec![0.0, 0.0], &[2]),
    }
}

impl Net {
    fn params(&self) -> Vec<&Param> {
        vec![&self.conv_w, &self.conv_b, &self.coef, &self.fc_w, &self.fc_b]
    }
    fn forward(&self, tape: &mut Tape, x: &Tensor) -> Var {
        let x = Var::constant(x.clone());
        let (w, b, c) = (tape.param(&self.conv_w), tape.param(&self.conv_b), tape.param(&self.coef));
        let h = F::conv2d(tape, &x, &w, Some(&b), 1, 1, false).unwrap();
        let h = F::quad(tape, &h, &c, 1.0, false).unwrap();
        let h = F::avgpool(tape, &h, AvgPool::Window(Pool::new(2, 2))).unwrap();
        let h = F::flatten(tape, &h).unwrap();
        let (fw, fb) = (tape.param(&self.fc_w), tape.param(&self.fc_b));
        F::linear(tape, &h, &fw, Some(&fb)).unwrap()
    }
}

/// Two classes of 8x8 images: a bright 3x3 blob in the upper-left or lower-right quadrant,
/// at a random position, over noise.
fn batch(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<u32>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for _ in 0..n {
        let label = rng.below(2);
        let (oy, ox) = (rng.below(2) as usize + if label == 0 { 0 } else { 4 }, rng.below(2) as usize + if label == 0 { 0 } else { 4 });
        for i in 0..S {
            for j in 0..S {
                let blob = (oy..oy + 3).contains(&i) && (ox..ox + 3).contains(&j);
                x.push(0.3 * rng.uniform() + if blob { 1.0 } else { 0.0 });
            }
        }
        y.push(label);
    }
    (x, y)
}

#[test]
fn tape_gradients_match_the_cpu_reference_chain() {
    let mut rng = Rng::new(100);
    let net = net(&mut rng);
    let n = 3;
    let (x, y) = batch(&mut rng, n);
    let weights = [1.0, 2.0];
    let mut tape = Tape::new();
    let logits = net.forward(&mut tape, &upload(&x, &[n, 1, S, S]));
    let labels = heft::ops::cross_entropy::labels(&gpu(), &y, 2).unwrap();
    let loss = F::cross_entropy(&mut tape, &logits, &labels, &upload(&weights, &[2])).unwrap();
    let grads = tape.backward(&loss).unwrap();

    // the same chain on the CPU reference, forward then backward by hand
    let g = Geom { n, c: 1, h: S, w: S, co: C, kh: 3, kw: 3, stride: 1, pad: 1 };
    let (cw, cb, co, fw, fb) = (download(&net.conv_w.value), download(&net.conv_b.value), download(&net.coef.value), download(&net.fc_w.value), download(&net.fc_b.value));
    let coef = [co[0], co[1], co[2]];
    let h1 = r::conv2d::forward(&x, &cw, Some(&cb), &g);
    let h2 = r::quad::forward(&h1, &coef, 1.0);
    let h3 = r::avgpool::forward(&h2, n * C, S, S, 4, 4, Some((2, 2, 0)));
    let z = r::linear::forward(&h3, &fw, Some(&fb), n, C * 16, 2);
    let want_loss = r::cross_entropy::forward(&z, &y, &weights, 2);
    assert_close_red("loss", &download(&loss.value), &[want_loss]);
    let dz = r::cross_entropy::backward(&z, &y, &weights, 2);
    let (dh3, dfw, dfb) = r::linear::backward(&h3, &fw, &dz, n, C * 16, 2);
    let dh2 = r::avgpool::backward(&dh3, n * C, S, S, 4, 4, Some((2, 2, 0)));
    let (dh1, dcoef) = r::quad::backward(&h1, &coef, 1.0, &dh2);
    let (_, dcw, dcb) = r::conv2d::backward(&x, &cw, &dh1, &g);
    for (p, want) in [(&net.fc_w, dfw), (&net.fc_b, dfb), (&net.coef, dcoef.to_vec()), (&net.conv_w, dcw), (&net.conv_b, dcb)] {
        assert_close(&p.name, &download(&grads[&p.id]), &want, 1e-6, 1e-3);
    }
}

#[test]
fn values_used_twice_sum_their_gradients_and_frozen_params_get_none() {
    let a = Param::new("a", ParamKind::Weight, upload(&[1.0, 2.0, 3.0], &[3]));
    let mut frozen = Param::new("f", ParamKind::Weight, upload(&[1.0, 1.0, 1.0], &[3]));
    frozen.frozen = true;
    let mut tape = Tape::new();
    let (va, vf) = (tape.param(&a), tape.param(&frozen));
    let s = F::add(&mut tape, &va, &va, 2.0, 3.0).unwrap();
    let s = F::add(&mut tape, &s, &vf, 1.0, 1.0).unwrap();
    let s = F::reshape(&mut tape, &s, &[1, 3]).unwrap();
    let w = tape.param(&a);
    let w = F::reshape(&mut tape, &w, &[1, 3]).unwrap();
    let y = F::linear(&mut tape, &s, &w, None).unwrap(); // sum_i (5 a_i + 1) a_i
    let y = F::reshape(&mut tape, &y, &[1]).unwrap();
    let grads = tape.backward(&y).unwrap();
    // d/da sum (5a^2 + a) = 10a + 1
    assert_close("grad a", &download(&grads[&a.id]), &[11.0, 21.0, 31.0], 1e-5, 1e-6);
    assert!(!grads.contains_key(&frozen.id));
}

#[test]
fn no_grad_tape_records_nothing() {
    let a = Param::new("a", ParamKind::Weight, upload(&[1.0], &[1]));
    let mut tape = Tape::no_grad();
    let v = tape.param(&a);
    let y = F::add(&mut tape, &v, &v, 1.0, 1.0).unwrap();
    assert!(!y.requires_grad());
    assert!(tape.backward(&y).unwrap_err().to_string().contains("does not depend"));
}

fn train(seed: u64, steps: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let net = net(&mut rng);
    let mut trainer = Trainer::adam(AdamCfg { lr: 1e-2, ..Default::default() });
    trainer.coef_lr = Some(2e-3);
    let weights = upload(&[1.0, 1.0], &[2]);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let (x, y) = batch(&mut rng, 16);
        let mut tape = Tape::new();
        let logits = net.forward(&mut tape, &upload(&x, &[16, 1, S, S]));
        let labels = heft::ops::cross_entropy::labels(&gpu(), &y, 2).unwrap();
        let loss = F::cross_entropy(&mut tape, &logits, &labels, &weights).unwrap();
        let grads = tape.backward(&loss).unwrap();
        trainer.step(&net.params(), &grads).unwrap();
        losses.push(loss.value.to_f32().unwrap()[0]);
    }
    losses
}

#[test]
fn tiny_cnn_learns_and_is_reproducible() {
    let steps = 40;
    let losses = train(7, steps);
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[steps - 5..].iter().sum::<f32>() / 5.0;
    assert!(last <= 0.5 * first, "loss fell from {first} to {last} only: {losses:?}");
    let again = train(7, steps);
    assert_eq!(
        losses.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        again.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "same seed, same adapter: identical losses"
    );
}

#[test]
fn a_convolution_with_its_relu_fused_has_the_gradients_of_the_two() {
    // loss = sum r · relu(conv(x, w) + b), on the tape with the ReLU in the convolution's pass,
    // against the CPU reference: dy = r where the convolution is positive, 0 elsewhere
    let mut rng = Rng::new(101);
    let g = Geom { n: 2, c: 2, h: 5, w: 5, co: 3, kh: 3, kw: 3, stride: 1, pad: 1 };
    let (x, w, b) = (rng.vec(2 * 2 * 25), rng.vec(3 * 2 * 9), rng.vec(3));
    let r = rng.vec(2 * 3 * 25);
    let wp = Param::new("w", ParamKind::Weight, upload(&w, &[3, 2, 3, 3]));
    let bp = Param::new("b", ParamKind::Bias, upload(&b, &[3]));
    let mut tape = Tape::new();
    let (wv, bv) = (tape.param(&wp), tape.param(&bp));
    let y = F::conv2d(&mut tape, &Var::constant(upload(&x, &[2, 2, 5, 5])), &wv, Some(&bv), 1, 1, true).unwrap();
    let y = F::reshape(&mut tape, &y, &[1, 150]).unwrap();
    let loss = F::linear(&mut tape, &y, &Var::constant(upload(&r, &[1, 150])), None).unwrap();
    let loss = F::reshape(&mut tape, &loss, &[1]).unwrap();
    let grads = tape.backward(&loss).unwrap();
    let conv = r::conv2d::forward(&x, &w, Some(&b), &g);
    assert!(conv.iter().any(|&v| v < 0.0) && conv.iter().any(|&v| v > 0.0));
    let want: f64 = conv.iter().zip(&r).map(|(c, r)| c.max(0.0) * r).sum();
    assert_close_red("loss", &download(&loss.value), &[want]);
    let dy: Vec<f64> = conv.iter().zip(&r).map(|(&c, &r)| if c > 0.0 { r } else { 0.0 }).collect();
    let (_, dw, db) = r::conv2d::backward(&x, &w, &dy, &g);
    assert_close("fused dw", &download(&grads[&wp.id]), &dw, 1e-5, 1e-4);
    assert_close("fused db", &download(&grads[&bp.id]), &db, 1e-5, 1e-4);
}
