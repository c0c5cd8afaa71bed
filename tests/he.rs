//! HE analysis: multiplicative depth against a hand count, HE-unfriendly layers named, CKKS
//! parameters worked out by hand within the published 128-bit bound (HomomorphicEncryption.org
//! standard), observed ranges and each image's peak against the values a hand-built network must
//! produce, and the exported ONNX graph run on the CPU against heft's own logits.

mod common;
#[path = "he/onnx_cpu.rs"]
mod onnx_cpu;
#[path = "he/student.rs"]
mod student;

use common::*;
use student::{perturbed, student, teacher};
use heft::he;
use heft::nn::layers::{ActKind, Activation, Conv, Join, Layer, Linear, Pool2d, PoolKind};
use heft::nn::model::{Arch, Model, ModelConfig};
use heft::tape::{Param, ParamKind};

#[test]
fn depth_matches_a_hand_count() {
    // AlexNet: 5 convolutions + 3 linear layers + 7 activations, pooling and BN free
    let costs = he::depth(&student(Arch::Alexnet));
    assert_eq!(costs.last().unwrap().depth, 5 + 3 + 7);
    assert!(costs.iter().all(|c| c.problem.is_none()));
    // SqueezeNet 1.1: conv1 + act (2), 8 fire modules of squeeze conv + act + expand conv + act
    // (4 each, the two expand branches in parallel), classifier conv + act (2), global pool 0
    let costs = he::depth(&student(Arch::Squeezenet11));
    assert_eq!(costs.last().unwrap().depth, 2 + 8 * 4 + 2);
    let fire = costs.iter().find(|c| c.name == "features.3").unwrap();
    assert_eq!((fire.kind.as_str(), fire.levels), ("Fire", 4));
    // ResNet-20: stem conv + act (2); 9 basic blocks of conv, act, conv on the body (3, the
    // shortcut's 1×1 convolution runs beside it) then the act after the addition (1); the
    // classifier (1); BN and global pooling free
    let costs = he::depth(&student(Arch::Resnet20));
    assert_eq!(costs.last().unwrap().depth, 2 + 9 * 4 + 1);
    let block = costs.iter().find(|c| c.name == "layer2.0").unwrap();
    assert_eq!((block.kind.as_str(), block.levels), ("BasicBlock", 4));
}

fn param(name: &str, kind: ParamKind, v: &[f32], shape: &[usize]) -> Param {
    Param::new(name, kind, heft::Tensor::from_f32(&gpu(), v, shape).unwrap())
}

/// A 1×1 convolution of one channel: y = w·x + b.
fn conv1x1(name: &str, w: f32, b: f32) -> Layer {
    let (w, b) = (param(name, ParamKind::Weight, &[w], &[1, 1, 1, 1]), param(name, ParamKind::Bias, &[b], &[1]));
    Layer::Conv(Conv { name: name.into(), w, b: Some(b), stride: 1, pad: 0, relu: false })
}

/// A finished polynomial activation c0 + c1·x + c2·x².
fn poly(name: &str, c: [f32; 3]) -> Layer {
    Layer::Act(Activation { name: name.into(), kind: ActKind::Poly, coef: Some(param(name, ParamKind::ActCoef, &c, &[3])), ratio: 1.0 })
}

/// A two-class model of 1-channel 64×64 images around `layers`.
fn hand_built(layers: Vec<Layer>) -> Model {
    Model { config: ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64), root: Layer::block("", "Test", layers) }
}

#[test]
fn depth_of_a_small_network_matches_a_hand_count() {
    // conv (1) → act (2) → [residual: block "res" of conv, act, conv (3 levels: 5) + identity
    // (2)] joined at 5 → act (6) → global pool (6) → flatten → linear (7)
    let body = Layer::block("res", "Body", vec![conv1x1("b1", 1.0, 0.0), poly("ba", [0.0, 1.0, 1.0]), conv1x1("b2", 1.0, 0.0)]);
    let fc = Linear { name: "fc".into(), w: param("fc.w", ParamKind::Weight, &[1.0, 1.0], &[2, 1]), b: None };
    let m = hand_built(vec![
        conv1x1("c1", 1.0, 0.0),
        poly("a1", [0.0, 1.0, 1.0]),
        Layer::branches(Join::Add, vec![body, Layer::block("", "Sequential", vec![])]),
        poly("a2", [0.0, 1.0, 1.0]),
        Layer::Pool(Pool2d::new("gap", PoolKind::GlobalAvg)),
        Layer::Flatten,
        Layer::Linear(fc),
    ]);
    let rows: Vec<(String, usize, usize)> = he::depth(&m).into_iter().map(|c| (c.name, c.levels, c.depth)).collect();
    let want = [("c1", 1, 1), ("a1", 1, 2), ("b1", 1, 3), ("ba", 1, 4), ("b2", 1, 5), ("res", 3, 5), ("#6", 3, 5), ("a2", 1, 6), ("gap", 0, 6), ("#9", 0, 6), ("fc", 1, 7)];
    assert_eq!(rows, want.map(|(n, l, d)| (n.to_string(), l, d)));
}

#[test]
fn relu_and_max_pooling_are_named() {
    let problems: Vec<String> = he::depth(&teacher(Arch::Alexnet)).into_iter().filter_map(|c| c.problem).collect();
    assert_eq!(problems.iter().filter(|p| p.contains("is a ReLU")).count(), 7);
    assert_eq!(problems.iter().filter(|p| p.contains("max pooling")).count(), 3);
    assert!(problems.iter().any(|p| p.contains("features.1")));
    // an unfinished ReLU→polynomial blend is not HE-friendly either
    let mut s = student(Arch::Alexnet);
    s.activations_mut()[2].ratio = 0.5;
    let problems: Vec<String> = he::depth(&s).into_iter().filter_map(|c| c.problem).collect();
    assert_eq!(problems, vec!["features.7 still blends in ReLU (ratio 0.5)".to_string()]);
}

/// log2 of the largest ciphertext modulus Q for 128-bit security, classical attacks, ternary
/// secret: N = 2^10 … 2^15 from the HomomorphicEncryption.org security standard (Albrecht et
/// al., "Homomorphic Encryption Standard", ia.cr/2019/939, Table 1); N = 2^16 from OpenFHE's
/// extension of that table (src/core/lib/lattice/stdlatticeparms.cpp, HEStd_ternary: 1747).
const PUBLISHED: [(usize, u32); 7] = [(1024, 27), (2048, 54), (4096, 109), (8192, 218), (16384, 438), (32768, 881), (65536, 1747)];

#[test]
fn ckks_parameters_fit_the_published_128_bit_bound() {
    for (n, bits) in PUBLISHED {
        assert_eq!(he::HE_STD_128.iter().find(|(m, _)| *m == n).map(|e| e.1), Some(bits), "N = {n}");
    }
    // Worked by hand: a 40-bit scale; a first prime of 40 bits plus the integer part (10 bits
    // without data, else ⌈log2 max⌉ + 1: 6 for 25, 3 for 3); a 60-bit special prime; the total
    // is first + depth·40 + 60, and the ring the smallest whose published bound holds it.
    // depth 15: 50 + 600 + 60 = 710 ≤ 881 (N = 2^15, above 2^14's 438); depth 36: 50 + 1440 + 60
    // = 1550 ≤ 1747 (2^16); depth 15 up to 25: 46 + 600 + 60 = 706 (2^15); depth 4 up to 3:
    // 43 + 160 + 60 = 263 ≤ 438 (2^14, above 2^13's 218).
    for (depth, max_abs, ring, first, total) in [(15, None, 32768, 50, 710), (36, None, 65536, 50, 1550), (15, Some(25.0), 32768, 46, 706), (4, Some(3.0), 16384, 43, 263)] {
        let p = he::recommend(depth, max_abs);
        let bound = PUBLISHED.iter().find(|(n, _)| *n == ring).unwrap().1;
        let got = (p.ring_dim, p.slots, p.scale_bits, p.first_prime_bits, p.special_prime_bits, p.levels, p.total_bits, p.max_total_bits);
        assert_eq!(got, (ring, ring / 2, 40, first, 60, depth, total, bound), "depth {depth}, values up to {max_abs:?}");
    }
    // values of 2^40 cannot keep precision at any scale
    assert!(!he::recommend(10, Some(1e12)).warnings.is_empty());
    // too deep for any ring: 200 levels of even 25 bits are 5000 bits, over every bound; says so
    assert!(he::recommend(200, None).warnings[0].contains("bootstrapping"));
}

#[test]
fn observed_ranges_are_those_of_the_data() {
    let dir = std::env::temp_dir().join(format!("heft-he-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    heft::data::synth::generate(&dir, 2, 64, (2, 2, 3), 1, 1.0).unwrap();
    let ds = heft::data::Dataset::folder(&dir.join("test")).unwrap();
    let norm = heft::data::image::Normalize::default();
    // act a1 sees u = 2x + 1 and gives u²; act a2 sees v = −u² and passes it on; the largest
    // |value| anywhere is max u² (the logits, ± the mean of v, are smaller)
    let fc = Linear { name: "fc".into(), w: param("fc.w", ParamKind::Weight, &[1.0, -1.0], &[2, 1]), b: None };
    let m = hand_built(vec![
        conv1x1("c1", 2.0, 1.0),
        poly("a1", [0.0, 0.0, 1.0]),
        conv1x1("c2", -1.0, 0.0),
        poly("a2", [0.0, 1.0, 0.0]),
        Layer::Pool(Pool2d::new("gap", PoolKind::GlobalAvg)),
        Layer::Flatten,
        Layer::Linear(fc),
    ]);
    // batches of 4, at most 2: the first 6 images (the 2×3 of the test split)
    let s = he::observe(&m, &ds, norm, 4, 2).unwrap();
    let cfg = heft::data::loader::LoaderCfg::inference(64, 1, 6, norm);
    let x = heft::data::loader::Loader::new(&ds, cfg, 0).next().unwrap().unwrap().x;
    let u: Vec<f64> = x.iter().map(|&x| 2.0 * x as f64 + 1.0).collect();
    let v: Vec<f64> = u.iter().map(|u| -u * u).collect();
    let range = |v: &[f64]| v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let p999 = |v: &[f64]| {
        let mut a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
        a.sort_by(|a, b| a.total_cmp(b));
        a[(a.len() as f64 * 0.999) as usize]
    };
    assert_eq!(s.images, 6);
    let got: Vec<(String, f64, f64, f64)> = s.acts.iter().map(|a| (a.name.clone(), a.min as f64, a.max as f64, a.p999_abs as f64)).collect();
    let want = [("a1", range(&u), p999(&u)), ("a2", range(&v), p999(&v))].map(|(n, (lo, hi), p)| (n.to_string(), lo, hi, p));
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.0, w.0);
        assert_close(&g.0, &[g.1, g.2, g.3], &[w.1, w.2, w.3], 1e-6, 1e-5);
    }
    assert_close("largest |value|", &[s.max_abs as f64], &[-range(&v).0], 1e-6, 1e-5);
    // each image's peak: the larger of its max |u| (at a1) and max u² (at a2)
    let mut peaks: Vec<(f64, &str, String)> = u
        .chunks(64 * 64)
        .enumerate()
        .map(|(i, u)| {
            let top = u.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            let (abs, act) = if top * top > top { (top * top, "a2") } else { (top, "a1") };
            (abs, act, ds.samples[i].path.display().to_string())
        })
        .collect();
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
    let got: Vec<(String, String)> = s.worst_images.iter().map(|w| (w.activation.clone(), w.path.clone())).collect();
    let want: Vec<(String, String)> = peaks[..3].iter().map(|p| (p.1.to_string(), p.2.clone())).collect();
    assert_eq!(got, want);
    assert_close("worst peaks", &s.worst_images.iter().map(|w| w.abs as f64).collect::<Vec<_>>(), &peaks[..3].iter().map(|p| p.0).collect::<Vec<_>>(), 1e-6, 1e-5);
    // ascending, the median is the 4th of 6 and the 99th percentile the 6th
    assert_close("image peaks", &s.image_peaks.map(|p| p as f64), &[peaks[2].0, peaks[0].0, peaks[0].0], 1e-6, 1e-5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn onnx_export_uses_only_he_friendly_operators() {
    let allowed = ["Conv", "Gemm", "Mul", "Add", "AveragePool", "Flatten", "Concat"];
    for (arch, first_act) in [(Arch::Alexnet, "features.1"), (Arch::Squeezenet11, "features.1"), (Arch::Resnet20, "act1")] {
        let he::onnx::Onnx { bytes, ops, fires_merged } = he::onnx::export(&student(arch)).unwrap();
        assert!(bytes.len() > 1000);
        assert!(ops.iter().all(|o| allowed.contains(&o.as_str())), "{arch:?}: {ops:?}");
        // the operators reported are the file's, in first-use order
        let mut in_file: Vec<String> = Vec::new();
        for (op, _) in onnx_cpu::nodes(&bytes) {
            if !in_file.contains(&op) {
                in_file.push(op);
            }
        }
        assert_eq!(in_file, ops, "{arch:?}");
        assert!(ops.contains(&"Mul".to_string()) && ops.contains(&"AveragePool".to_string()));
        // SqueezeNet's eight fire modules each become one convolution: no Concat is left
        assert!(!ops.contains(&"Concat".to_string()), "{arch:?}");
        assert_eq!(fires_merged, if arch == Arch::Squeezenet11 { 8 } else { 0 }, "{arch:?}");
        // batch norm is folded away, the polynomial coefficients are in the file
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("BatchNormalization") && text.contains(&format!("{first_act}.c2")), "{arch:?}");
    }
    // the teacher, or an unfinished blend, cannot be exported
    let e = he::onnx::export(&teacher(Arch::Alexnet)).err().unwrap().to_string();
    assert!(e.contains("ReLU") || e.contains("max pooling"), "{e}");
    let mut s = student(Arch::Alexnet);
    s.activations_mut()[0].ratio = 0.5;
    assert!(he::onnx::export(&s).err().unwrap().to_string().contains("still blends"));
}

#[test]
fn exported_graph_computes_the_students_logits() {
    // batch norms folded into convolutions and into AlexNet's polynomials
    for arch in [Arch::Alexnet, Arch::Squeezenet11, Arch::Resnet20] {
        student::assert_export_computes_the_logits(&perturbed(student(arch)), &format!("{arch:?}"));
    }
}
