//! HE analysis: multiplicative depth against a hand count, HE-unfriendly layers named, CKKS
//! parameters within the published 128-bit bound (HomomorphicEncryption.org standard), and
//! observed ranges over data.

mod common;

use common::*;
use heft::he;
use heft::nn::convert::to_student;
use heft::nn::layers::ActKind;
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};

fn student(arch: Arch) -> Model {
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(arch, vec!["a".into(), "b".into()], 1, 64) };
    let t = Model::teacher(&gpu(), cfg, 0).unwrap();
    to_student(&t, &StudentConfig { act: ActKind::Poly, init: [0.0, 0.5, 0.05], batchnorm: true }).unwrap()
}

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

#[test]
fn relu_and_max_pooling_are_named() {
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    let teacher = Model::teacher(&gpu(), cfg, 0).unwrap();
    let problems: Vec<String> = he::depth(&teacher).into_iter().filter_map(|c| c.problem).collect();
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
    // depth 15 at a 40-bit scale is 15·40 = 600 bits of rescaling primes alone: above N = 2^14's
    // 438, within 2^15's 881. Depth 36 needs 36·25 = 900 even at the smallest (25-bit) scale:
    // N = 2^16. Depth 4 with values below 4 fits 2^14 (4·40 + two ≤60-bit primes ≤ 280 bits)
    // but not 2^13 (218 < 4·40 + 60-bit special prime + a first prime above the scale)
    for (depth, max_abs, ring) in [(15, None, 32768), (36, None, 65536), (15, Some(25.0), 32768), (4, Some(3.0), 16384)] {
        let p = he::recommend(depth, max_abs);
        assert_eq!(p.ring_dim, ring, "depth {depth}");
        let bound = PUBLISHED.iter().find(|(n, _)| *n == ring).unwrap().1;
        assert!(p.total_bits <= bound && p.max_total_bits == bound, "{p:?}");
        // one rescaling prime per level, and a first prime above the scale to hold the integer part
        assert!(p.levels == depth && p.total_bits >= depth as u32 * p.scale_bits && p.first_prime_bits > p.scale_bits, "{p:?}");
    }
    // values of 2^40 cannot keep precision at any scale
    assert!(!he::recommend(10, Some(1e12)).warnings.is_empty());
    // too deep for any ring: 200 levels of even 25 bits are 5000 bits, over every bound; says so
    assert!(he::recommend(200, None).warnings[0].contains("bootstrapping"));
}

#[test]
fn observed_ranges_cover_every_activation() {
    let dir = std::env::temp_dir().join(format!("heft-he-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    heft::data::synth::generate(&dir, 2, 64, (2, 2, 3), 1, 1.0).unwrap();
    let ds = heft::data::Dataset::folder(&dir.join("test")).unwrap();
    let m = student(Arch::Alexnet);
    let s = he::observe(&m, &ds, heft::data::image::Normalize::default(), 4, 2).unwrap();
    assert_eq!(s.images, 6);
    assert_eq!(s.acts.len(), 7);
    for a in &s.acts {
        assert!(a.min <= a.max && a.p999_abs <= a.max.abs().max(a.min.abs()), "{a:?}");
        assert!(s.max_abs >= a.max.abs().max(a.min.abs()));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn onnx_export_uses_only_he_friendly_operators() {
    let allowed = ["Conv", "Gemm", "Mul", "Add", "AveragePool", "Flatten", "Concat"];
    for (arch, first_act) in [(Arch::Alexnet, "features.1"), (Arch::Squeezenet11, "features.1"), (Arch::Resnet20, "act1")] {
        let (bytes, ops) = he::onnx::export(&student(arch)).unwrap();
        assert!(bytes.len() > 1000);
        assert!(ops.iter().all(|o| allowed.contains(&o.as_str())), "{arch:?}: {ops:?}");
        assert!(ops.contains(&"Mul".to_string()) && ops.contains(&"AveragePool".to_string()));
        assert_eq!(ops.contains(&"Concat".to_string()), arch == Arch::Squeezenet11);
        // batch norm is folded away, the polynomial coefficients are in the file
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("BatchNormalization") && text.contains(&format!("{first_act}.c2")), "{arch:?}");
    }
    // the teacher, or an unfinished blend, cannot be exported
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    let e = he::onnx::export(&Model::teacher(&gpu(), cfg, 0).unwrap()).err().unwrap().to_string();
    assert!(e.contains("ReLU") || e.contains("max pooling"), "{e}");
    let mut s = student(Arch::Alexnet);
    s.activations_mut()[0].ratio = 0.5;
    assert!(he::onnx::export(&s).err().unwrap().to_string().contains("still blends"));
}
