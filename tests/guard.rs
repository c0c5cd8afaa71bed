//! The divergence guard: a student whose activation inputs run past the bound is rolled back to
//! its last good state with halved learning rates, every rollback is a line of metrics.jsonl,
//! the run stops with the layer and step named once the rollbacks are spent, the recipe that
//! blows up in PyTorch (initial coefficients (1, 1, 1)) is rolled back every epoch and stops, and a
//! checkpoint is never written with a non-finite value.

mod common;

use common::*;
use heft::data::{image::Normalize, synth, Dataset};
use heft::nn::checkpoint;
use heft::nn::convert::to_student;
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};
use heft::recipe::Recipe;
use heft::train::{self, Data, Phase, RunFiles};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("heft-guard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn data(dir: &Path) -> Data {
    synth::generate(&dir.join("data"), 2, 64, (16, 4, 4), 3, 1.0).unwrap();
    let open = |s: &str| Dataset::folder(&dir.join("data").join(s)).unwrap();
    Data { train: open("train"), val: open("val"), test: open("test"), norm: Normalize::default(), strict: true }
}

fn student(data: &Data, init: [f32; 3]) -> Model {
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, data.train.classes.clone(), 1, 64) };
    let teacher = Model::teacher(&gpu(), cfg, 1).unwrap();
    to_student(&teacher, &StudentConfig { init, ..StudentConfig::default() }).unwrap()
}

fn rollbacks(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("student_metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).filter(|v| v["event"] == "rollback").collect()
}

#[test]
fn a_runaway_activation_is_rolled_back_then_stops_naming_the_layer() {
    let dir = tmp("bound");
    let data = data(&dir);
    let mut s = student(&data, [0.0, 0.5, 0.05]);
    // a bound every activation input passes at once: each window is bad
    let recipe = Recipe { epochs: 2, batch: 4, max_range: Some(1e-3), max_rollbacks: 2, progress: false, ..Recipe::default() };
    let e = train::train(&mut s, None, &data, &recipe, &RunFiles::new(&dir, Phase::Student)).err().unwrap().to_string();
    // 32 training images in batches of 4: 8 steps an epoch, a check every 2 steps. The first
    // bad value (step 0) is caught at step 1; the third bad window (two rollbacks spent) stops
    // the run at step 5 of epoch 1
    assert!(e.contains("diverged at epoch 1 step 5") && e.contains("the input of features.1 reached"), "{e}");
    assert!(e.contains("after 2 rollbacks"), "{e}");
    let lines = rollbacks(&dir);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["layer"], "features.1");
    assert_eq!((lines[0]["epoch"].as_u64(), lines[0]["step"].as_u64()), (Some(1), Some(1)));
    // each rollback halves the learning rates (1e-3, coefficients 2e-4)
    assert!((lines[0]["lr"].as_f64().unwrap() - 5e-4).abs() < 1e-9 && (lines[1]["lr"].as_f64().unwrap() - 2.5e-4).abs() < 1e-9);
    assert!((lines[1]["coef_lr"].as_f64().unwrap() - 5e-5).abs() < 1e-9);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rollback_restores_the_weights_of_the_last_good_state() {
    let dir = tmp("restore");
    let data = data(&dir);
    let mut s = student(&data, [0.0, 0.5, 0.05]);
    let params = |m: &Model| -> Vec<Vec<f32>> { m.params().iter().map(|p| p.value.to_f32().unwrap()).collect() };
    let before = params(&s);
    // every window is bad and one rollback is allowed: steps 0-1 (lr 1e-2), the restore of the
    // initial state and its fresh Adam moments, steps 2-3 (lr 5e-3), then the stop. An early
    // Adam step moves a weight by about its learning rate, so a restored model is within
    // 2 × 5e-3 of its start, one that was not within 3e-2
    let recipe = Recipe { epochs: 1, batch: 4, lr: 1e-2, max_range: Some(1e-3), max_rollbacks: 1, progress: false, ..Recipe::default() };
    assert!(train::train(&mut s, None, &data, &recipe, &RunFiles::new(&dir, Phase::Student)).is_err());
    for (a, b) in before.iter().zip(&params(&s)) {
        let max = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(max < 1.2e-2, "a parameter moved by {max}: the restore did not bring it back");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// IBM's failing recipe, initial coefficients (1, 1, 1), which blows up in PyTorch too. On this
/// adapter (lavapipe; a run is a function of seed and adapter) every epoch's validation pass
/// sends the input of the last feature activation past ±1000: each epoch is rolled back with
/// the learning rates halved (1e-3 and 2e-4 over 2^k), none is kept, and the run stops saying
/// so without writing a checkpoint.
#[test]
fn the_one_one_one_student_is_rolled_back_every_epoch_and_stops_without_a_checkpoint() {
    let dir = tmp("ones");
    let data = data(&dir);
    let mut s = student(&data, [1.0, 1.0, 1.0]);
    let recipe = Recipe { epochs: 3, batch: 4, progress: false, ..Recipe::default() };
    let e = train::train(&mut s, None, &data, &recipe, &RunFiles::new(&dir, Phase::Student)).err().map(|e| e.to_string()).expect("the (1,1,1) student diverges");
    assert!(e.contains("student: no epoch was kept: each ended with a non-finite validation loss or was rolled back by the guard"), "{e}");
    let lines = rollbacks(&dir);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (k, l) in lines.iter().enumerate() {
        let halved = 0.5f64.powi(k as i32 + 1);
        assert_eq!((l["epoch"].as_u64(), l["layer"].as_str()), (Some(k as u64 + 1), Some("features.11")), "{l}");
        let reason = l["reason"].as_str().unwrap();
        assert!(reason.starts_with("on validation, the input of features.11 reached"), "{l}");
        // and in how many of the 8 validation images some activation input passed ±1000
        let k: usize = reason.split("(some activation input of ").nth(1).and_then(|r| r.strip_suffix(" of the 8 images passes it)")).and_then(|k| k.parse().ok()).expect(reason);
        assert!((1..=8).contains(&k), "{reason}");
        assert!((l["lr"].as_f64().unwrap() - 1e-3 * halved).abs() < 1e-9 && (l["coef_lr"].as_f64().unwrap() - 2e-4 * halved).abs() < 1e-10, "{l}");
    }
    assert!(!dir.join("student.safetensors").exists(), "no epoch was kept, so no checkpoint");
    // each (rejected) epoch's line names its worst validation image, whose peak is the widest
    // end of the activation ranges, and counts the images beyond R = 10
    let text = std::fs::read_to_string(dir.join("student_metrics.jsonl")).unwrap();
    let epochs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).filter(|v: &serde_json::Value| v.get("val_loss").is_some()).collect();
    assert_eq!(epochs.len(), 3);
    for e in &epochs {
        let widest = e["act_ranges"].as_array().unwrap().iter().map(|r| r["min"].as_f64().unwrap().abs().max(r["max"].as_f64().unwrap().abs())).fold(0.0, f64::max);
        let worst = &e["val_worst_image"];
        assert!(worst["abs"].as_f64().unwrap() == widest && widest > 1000.0, "{worst} against {widest}");
        assert!(worst["path"].as_str().unwrap().contains("/val/"), "{worst}");
        assert!((1..=8).contains(&e["val_images_beyond_range"].as_u64().unwrap()), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_with_a_non_finite_value_is_refused_and_the_old_file_kept() {
    let dir = tmp("nan");
    std::fs::create_dir_all(&dir).unwrap();
    let data = data(&dir);
    let s = student(&data, [0.0, 0.5, 0.05]);
    let path = dir.join("student.safetensors");
    checkpoint::save(&s, &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let p = &s.params()[0].value;
    let mut v = p.to_f32().unwrap();
    v[3] = f32::NAN;
    p.write_f32(&v).unwrap();
    let e = checkpoint::save(&s, &path).err().unwrap().to_string();
    assert!(e.contains("not saved") && e.contains("features.0.weight") && e.contains("NaN"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), good);
    std::fs::remove_dir_all(&dir).unwrap();
}
