//! The small models the HE tests share (two classes, 1-channel 64×64 images, width 1/8,
//! hidden 32), `perturbed` statistics and coefficients, and the check that an exported ONNX
//! graph, run by `onnx_cpu`, gives heft's own logits.

use crate::common::*;
use crate::onnx_cpu;
use heft::he;
use heft::nn::convert::to_student;
use heft::nn::layers::{Conv, Leaf, Linear};
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};

pub fn teacher(arch: Arch) -> Model {
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(arch, vec!["a".into(), "b".into()], 1, 64) };
    Model::teacher(&gpu(), cfg, 0).unwrap()
}

pub fn student(arch: Arch) -> Model {
    to_student(&teacher(arch), &StudentConfig::default()).unwrap()
}

/// `m` with every batch-norm statistic and affine map, every activation's coefficients and
/// every bias moved off its initial value, so that a fold or merge that dropped or misplaced
/// one shows in the logits.
pub fn perturbed(m: Model) -> Model {
    let mut rng = Rng::new(5);
    let mut set = |t: &heft::Tensor, f: &dyn Fn(f64) -> f64| {
        let v: Vec<f32> = (0..t.numel()).map(|_| f(rng.uniform()) as f32).collect();
        t.write_f32(&v).unwrap();
    };
    for bn in m.batchnorms() {
        set(&bn.gamma.value, &|u| 1.0 + 0.3 * u);
        set(&bn.beta.value, &|u| 0.2 * u);
        set(&bn.running_mean, &|u| 0.2 * u);
        set(&bn.running_var, &|u| 1.0 + 0.5 * u.abs());
    }
    for leaf in m.root.leaves() {
        if let Leaf::Conv(Conv { b: Some(b), .. }) | Leaf::Linear(Linear { b: Some(b), .. }) = leaf {
            set(&b.value, &|u| 0.1 * u);
        }
    }
    for a in m.activations() {
        let c = [0.1 * rng.uniform(), 0.5 + 0.1 * rng.uniform(), 0.05 + 0.05 * rng.uniform()];
        a.coef.as_ref().unwrap().value.write_f32(&f32s(&c)).unwrap();
    }
    m
}

/// The ONNX file of `m` run by the CPU evaluation against heft's forward pass (batch norms
/// unfolded, nothing merged) on two images; returns the export.
pub fn assert_export_computes_the_logits(m: &Model, what: &str) -> he::onnx::Onnx {
    let x = Rng::new(9).vec(2 * 64 * 64);
    let want = download(&m.infer(&upload(&x, &[2, 1, 64, 64])).unwrap());
    let out = he::onnx::export(m).unwrap();
    let (shape, got) = onnx_cpu::run(&out.bytes, (vec![2, 1, 64, 64], f32s(&x)));
    assert_eq!(shape, vec![2, 2], "{what}");
    let got: Vec<f64> = got.into_iter().map(|v| v as f64).collect();
    // the heads start small (logits of 1e-3 to 0.5): errors relative to the largest logit
    let largest = want.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    assert_close(&format!("{what} logits"), &got, &want, 1e-4 * largest, 1e-4);
    out
}
