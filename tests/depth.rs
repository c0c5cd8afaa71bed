//! Depth-aware students: linearised activations (c0 + c1·x, no x² term) cost no CKKS level and
//! let the linear layers around them merge; depth counted by hand; `linearise` keeps c0 and c1,
//! zeroes c2, and a saved student comes back with the same activations linearised.

mod common;

use common::*;
use heft::he;
use heft::nn::checkpoint;
use heft::nn::convert::to_student;
use heft::nn::layers::ActKind;
use heft::nn::linearise::linearise;
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};

fn teacher(arch: Arch) -> Model {
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(arch, vec!["a".into(), "b".into()], 1, 64) };
    Model::teacher(&gpu(), cfg, 0).unwrap()
}

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
