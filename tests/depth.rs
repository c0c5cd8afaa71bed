//! Depth-aware students: linearised activations (c0 + c1·x, no x² term) cost no CKKS level and
//! let the linear layers around them merge; depth counted by hand; `linearise` keeps c0 and c1,
//! zeroes c2, and a saved student comes back with the same activations linearised; the ONNX
//! export is the merged graph depth counts, and computes the unmerged student's logits.

mod common;
#[path = "he/onnx_cpu.rs"]
mod onnx_cpu;
#[path = "he/student.rs"]
mod student;

use common::*;
use heft::he;
use heft::nn::checkpoint;
use heft::nn::convert::to_student;
use heft::nn::layers::{ActKind, Activation, BatchNorm, Conv, Layer, Linear, Pool2d, PoolKind};
use heft::nn::linearise::linearise;
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};
use heft::tape::{Param, ParamKind};
use std::collections::HashMap;
use student::{assert_export_computes_the_logits, perturbed, student, teacher};

fn depth_with(arch: Arch, linear: &[&str]) -> (usize, Vec<he::LayerCost>) {
    let cfg = StudentConfig { linear: linear.iter().map(|s| s.to_string()).collect(), ..StudentConfig::default() };
    let costs = he::depth(&to_student(&teacher(arch), &cfg).unwrap());
    (costs.iter().map(|c| c.depth).max().unwrap(), costs)
}

#[test]
fn linearised_activations_and_merged_layers_are_counted_by_hand() {
    // AlexNet: 5 convolutions + 3 linear layers + 7 activations
    assert_eq!(depth_with(Arch::Alexnet, &[]).0, 15);
    // both classifier activations affine: they cost nothing, and classifier.4 and .6 merge into
    // classifier.1 (one Linear for the three): 5 + 1 + 5
    let (d, costs) = depth_with(Arch::Alexnet, &["classifier.2", "classifier.5"]);
    assert_eq!(d, 11);
    for name in ["classifier.4", "classifier.6"] {
        let row = costs.iter().find(|c| c.name == name).unwrap();
        assert_eq!((row.kind.as_str(), row.levels), ("Linear (merged into classifier.1)", 0), "{name}");
    }
    assert_eq!(costs.iter().find(|c| c.name == "classifier.2").unwrap().kind, "Affine (folded)");
    // features.9 affine: its level goes, but features.10 is a padded 3×3 convolution, which does
    // not merge into features.8 exactly: 10
    assert_eq!(depth_with(Arch::Alexnet, &["classifier.2", "classifier.5", "features.9"]).0, 10);
    // only classifier.5 affine: classifier.6 merges into classifier.4; classifier.2 keeps its x²
    assert_eq!(depth_with(Arch::Alexnet, &["classifier.5"]).0, 13);
}

#[test]
fn an_unknown_activation_name_is_refused() {
    let cfg = StudentConfig { linear: vec!["features.3".into()], ..StudentConfig::default() };
    let e = to_student(&teacher(Arch::Alexnet), &cfg).err().unwrap().to_string();
    assert!(e.contains("features.3 is not an activation of this model") && e.contains("classifier.5"), "{e}");
}

#[test]
fn linearise_keeps_c0_c1_and_a_saved_student_keeps_its_linear_activations() {
    let mut s = to_student(&teacher(Arch::Alexnet), &StudentConfig { init: [0.25, 0.75, 0.5], ..StudentConfig::default() }).unwrap();
    linearise(&mut s, &["classifier.5".into(), "features.1".into()]).unwrap();
    let acts = s.activations();
    let kinds: Vec<(&str, ActKind)> = acts.iter().map(|a| (a.name.as_str(), a.kind)).collect();
    assert_eq!(kinds[0], ("features.1", ActKind::Affine));
    assert_eq!(kinds[1], ("features.4", ActKind::Poly));
    assert_eq!(kinds[6], ("classifier.5", ActKind::Affine));
    assert_eq!(acts[0].coef.as_ref().unwrap().value.to_f32().unwrap(), [0.25, 0.75, 0.0]);
    assert_eq!(acts[1].coef.as_ref().unwrap().value.to_f32().unwrap(), [0.25, 0.75, 0.5]);
    // listed in execution order, whatever order they were asked in
    assert_eq!(s.config.student.as_ref().unwrap().linear, ["features.1", "classifier.5"]);
    let dir = tmp("linearise");
    let path = dir.join("student.safetensors");
    checkpoint::save(&s, &path).unwrap();
    let back = checkpoint::load(&gpu(), &path).unwrap();
    let kinds: Vec<ActKind> = back.activations().iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [ActKind::Affine, ActKind::Poly, ActKind::Poly, ActKind::Poly, ActKind::Poly, ActKind::Poly, ActKind::Affine]);
    assert_eq!(back.activations()[0].coef.as_ref().unwrap().value.to_f32().unwrap(), [0.25, 0.75, 0.0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn synthetic(dir: &std::path::Path) -> heft::train::Data {
    use heft::data::{image::Normalize, synth, Dataset};
    synth::generate(&dir.join("data"), 2, 64, (16, 8, 4), 3, 1.0).unwrap();
    let open = |s: &str| Dataset::folder(&dir.join("data").join(s)).unwrap();
    heft::train::Data { train: open("train"), val: open("val"), test: open("test"), norm: Normalize::default(), strict: true }
}

#[test]
fn a_depth_budget_is_honoured_and_one_out_of_reach_is_refused() {
    use heft::train::{depth_of, fit_budget};
    let dir = tmp("budget");
    let data = synthetic(&dir);
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, data.train.classes.clone(), 1, 64) };
    let mut s = to_student(&Model::teacher(&gpu(), cfg, 0).unwrap(), &StudentConfig::default()).unwrap();
    let c = fit_budget(&mut s, 10, &data, 8, false).unwrap();
    assert_eq!((c.depth_before, c.depth, depth_of(&s)), (15, c.depth, c.depth));
    assert!(c.depth <= 10, "depth {}", c.depth);
    // each round saves at least one level: at most 5 rounds from 15 to 10
    assert!((1..=5).contains(&c.linearised.len()), "{:?}", c.linearised);
    let affine: Vec<String> = s.activations().iter().filter(|a| a.kind == ActKind::Affine).map(|a| a.name.clone()).collect();
    let mut chosen: Vec<String> = c.linearised.iter().map(|(n, _)| n.clone()).collect();
    chosen.sort();
    let mut sorted = affine.clone();
    sorted.sort();
    assert_eq!(chosen, sorted);
    assert_eq!(c.kept.len() + affine.len(), 7);
    assert_eq!(s.config.student.as_ref().unwrap().linear, affine);
    // every activation affine leaves 5 convolutions (pooling between them stops any merge) and
    // one Linear for the classifier: 6 is the floor
    let e = fit_budget(&mut s, 5, &data, 8, false).err().unwrap().to_string();
    assert!(e.contains("a depth budget of 5 is out of reach: with every activation linearised the depth is 6"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The command line: a method student, then a depth-budget student started from it and
/// distilled from the same teacher, whose checkpoint keeps its linearised activations.
#[test]
fn train_student_takes_a_depth_budget_from_a_trained_student() {
    let dir = tmp("budget-cli");
    let d = dir.display().to_string();
    let ds = format!("{d}/ds");
    assert_eq!(heft(&["synth", "--out", &ds, "--train", "16", "--val", "8", "--test", "4"]).0, 0);
    let common = ["--data", &ds, "--epochs", "1", "--batch", "8", "--quiet", "--no-tune"];
    let model = ["--model", "alexnet", "--width", "0.125", "--hidden", "32"];
    let (code, _, err) = heft(&[&["train-teacher", "--out", &format!("{d}/t")][..], &common, &model].concat());
    assert_eq!(code, 0, "{err}");
    let teacher = format!("{d}/t/teacher.safetensors");
    let (code, _, err) = heft(&[&["train-student", "--teacher", &teacher, "--out", &format!("{d}/m")][..], &common].concat());
    assert_eq!(code, 0, "{err}");
    let method = format!("{d}/m/student.safetensors");
    let budget = ["train-student", "--teacher", &teacher, "--from-student", &method, "--depth-budget", "11", "--out"];
    let (code, _, err) = heft(&[&budget[..], &[&format!("{d}/b")], &common].concat());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("depth budget 11: depth 15 → "), "{err}");
    let s = checkpoint::load(&gpu(), &dir.join("b/student.safetensors")).unwrap();
    assert!(heft::train::depth_of(&s) <= 11);
    assert!(!s.config.student.as_ref().unwrap().linear.is_empty());
    // a teacher is not a student to start from
    assert_clean_error(&[&budget[..4], &[&teacher, "--depth-budget", "11", "--out", &format!("{d}/x")], &common].concat(), "is not a student of this teacher's network");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Node counts of an ONNX file by operator, a square Mul(x, x) counted as "Square" only.
fn node_counts(bytes: &[u8]) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for (op, ins) in onnx_cpu::nodes(bytes) {
        let op = if op == "Mul" && ins[0] == ins[1] { "Square".to_string() } else { op };
        *n.entry(op).or_insert(0) += 1;
    }
    n
}

/// `m` with the activations `linear` linearised (after `perturbed`: c2 dropped, c0 and c1 kept).
fn linearised(m: Model, linear: &[&str]) -> Model {
    let mut m = perturbed(m);
    linearise(&mut m, &linear.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    m
}

/// A 3×3 convolution → BN → act → 1×1 → act → dropout → 1×1 → BN → act → 1×1 → global pool →
/// flatten → linear, as a student: the first three convolutions merge when `a1` and `a2` are
/// linearised; `a3` keeps the last one apart.
fn conv_chain() -> Model {
    let (g, mut rng) = (gpu(), heft::rng::Rng::new(3));
    let mut conv = |name: &str, cin, cout, k, stride, pad| Layer::Conv(Conv::new(&g, &mut rng, name, cin, cout, k, stride, pad).unwrap());
    let layers = vec![conv("c1", 1, 4, 3, 2, 1), conv("c2", 4, 6, 1, 1, 0), conv("c3", 6, 3, 1, 1, 0), conv("c4", 3, 3, 1, 1, 0)];
    let [c1, c2, c3, c4] = <[Layer; 4]>::try_from(layers).ok().unwrap();
    let bn = |name: &str, c| Layer::BatchNorm(BatchNorm::new(&g, name, c).unwrap());
    let act = |name: &str| {
        let coef = Param::new(format!("{name}.coef"), ParamKind::ActCoef, heft::Tensor::from_f32(&g, &[0.0, 0.5, 0.05], &[3]).unwrap());
        Layer::Act(Activation { name: name.into(), kind: ActKind::Poly, coef: Some(coef), ratio: 1.0 })
    };
    let fc = Layer::Linear(Linear::new(&g, &mut rng, "fc", 3, 2).unwrap());
    let gap = Layer::Pool(Pool2d::new("gap", PoolKind::GlobalAvg));
    let layers = vec![c1, bn("bn1", 4), act("a1"), c2, act("a2"), Layer::Dropout(0.5), c3, bn("bn3", 3), act("a3"), c4, gap, Layer::Flatten, fc];
    let config = ModelConfig { student: Some(StudentConfig::default()), ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    Model { config, root: Layer::block("", "Test", layers) }
}

#[test]
fn merged_export_computes_the_unmerged_students_logits() {
    // linearised activations fold into the layer before them (AlexNet's features.1 through its
    // average pool and batch norm), AlexNet's classifier is one Gemm, conv_chain's first three
    // convolutions one Conv; a ResNet act after a residual addition follows no layer: Mul, Add
    let cases: [(&str, Model, &[&str]); 4] = [
        ("AlexNet", student(Arch::Alexnet), &["features.1", "features.9", "classifier.2", "classifier.5"]),
        ("SqueezeNet", student(Arch::Squeezenet11), &["features.1", "features.3.squeeze_activation", "features.4.expand1x1_activation", "classifier.2"]),
        ("ResNet", student(Arch::Resnet20), &["act1", "layer1.0.act1", "layer1.0.act2", "layer3.2.act2"]),
        ("conv_chain", conv_chain(), &["a1", "a2"]),
    ];
    for (name, m, linear) in cases {
        let m = linearised(m, linear);
        let what = format!("{name} with {linear:?} linearised");
        let out = assert_export_computes_the_logits(&m, &what);
        // the graph is what he::depth counts: a node per Conv or Linear not merged, a square
        // per activation that costs a level; but a merged fire module (none here with both
        // expand activations linearised) has one Conv and one square for two of each
        let (costs, n, f) = (he::depth(&m), node_counts(&out.bytes), out.fires_merged);
        let rows = |kind: &str| costs.iter().filter(|c| c.kind == kind).count();
        let nodes = |op: &str| n.get(op).copied().unwrap_or(0);
        assert_eq!((nodes("Conv") + f, nodes("Gemm"), nodes("Square") + f), (rows("Conv"), rows("Linear"), rows("Poly")), "{what}");
    }
}

#[test]
fn merged_export_has_the_expected_nodes() {
    // (Conv, Gemm, Square, Mul) nodes; an activation with its x² is 3 Mul and 2 Add, a folded one
    // none, one after a residual addition 1 Mul and 1 Add
    let count = |m: Model, linear: &[&str]| {
        let n = node_counts(&he::onnx::export(&linearised(m, linear)).unwrap().bytes);
        ["Conv", "Gemm", "Square", "Mul"].map(|op| n.get(op).copied().unwrap_or(0))
    };
    assert_eq!(count(student(Arch::Alexnet), &[]), [5, 3, 7, 14]);
    assert_eq!(count(student(Arch::Alexnet), &["classifier.2", "classifier.5"]), [5, 1, 5, 10]);
    assert_eq!(count(student(Arch::Alexnet), &["classifier.2", "classifier.5", "features.9"]), [5, 1, 4, 8]);
    assert_eq!(count(student(Arch::Resnet20), &["layer3.2.act2"]), [21, 1, 18, 37]);
    assert_eq!(count(conv_chain(), &["a1", "a2"]), [2, 1, 1, 2]);
}

#[test]
fn fire_modules_export_as_one_convolution_where_their_activations_allow() {
    // (fire modules merged, Conv, Square, Concat nodes), and the logits of the unmerged student;
    // SqueezeNet 1.1: conv1, 8 × (squeeze, expand 1×1, expand 3×3), the classifier
    let fire4 = ["features.4.expand1x1_activation", "features.4.expand3x3_activation"];
    let cases: [(&[&str], [usize; 4]); 3] = [
        // every fire merged: 18 Conv (26 − 8), 18 squares (26 − 8), no Concat
        (&[], [8, 18, 18, 0]),
        // one expand activation of features.4 linearised, the other not: that module stays
        // two convolutions and a Concat (its linear branch folds into its Conv)
        (&fire4[..1], [7, 19, 18, 1]),
        // both linearised: merged, and the merged activation folds into the merged Conv
        (&fire4, [8, 18, 17, 0]),
    ];
    for (linear, want) in cases {
        let m = linearised(student(Arch::Squeezenet11), linear);
        let out = assert_export_computes_the_logits(&m, &format!("SqueezeNet with {linear:?} linearised"));
        let n = node_counts(&out.bytes);
        let nodes = |op: &str| n.get(op).copied().unwrap_or(0);
        assert_eq!([out.fires_merged, nodes("Conv"), nodes("Square"), nodes("Concat")], want, "{linear:?}");
        // the merged convolutions are 3×3 with both branches' output channels
        let text = String::from_utf8_lossy(&out.bytes);
        assert_eq!(text.contains("features.4.expand.weight"), linear.len() != 1, "{linear:?}");
    }
}
