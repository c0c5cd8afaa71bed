//! Using a trained model on new data through the command line: `heft predict` agrees with
//! `heft eval` image by image, its probabilities are a distribution, unreadable and truncated
//! files are listed rather than fatal, and `heft eval` scores every image of a folder without
//! train/val/test splits. One tiny teacher is trained once (1 epoch) and shared by the tests.

mod common;

use common::{assert_clean_error, heft, tmp};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A synthetic dataset (2 classes; 24/4/10 images per class) and a teacher trained on it for
/// a few steps, enough to predict both classes.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn data(&self) -> String {
        self.dir.join("ds").display().to_string()
    }
    fn model(&self) -> String {
        self.dir.join("run/teacher.safetensors").display().to_string()
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tmp("predict");
        let ds = dir.join("ds").display().to_string();
        let (code, _, err) = heft(&["synth", "--out", &ds, "--size", "32", "--train", "24", "--val", "4", "--test", "10", "--strength", "3"]);
        assert_eq!(code, 0, "{err}");
        let out = dir.join("run").display().to_string();
        let (code, _, err) = heft(&[&TRAIN[..], &["--data", &ds, "--batch", "4", "--epochs", "4", "--no-augment", "--out", &out]].concat());
        assert_eq!(code, 0, "{err}");
        Fixture { dir }
    })
}

/// Rows of a predictions CSV: (path, predicted class, probabilities); checks the header.
fn read_csv(text: &str, classes: &[&str]) -> Vec<(String, String, Vec<f64>)> {
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), format!("path,predicted,{}", classes.join(",")));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 2 + classes.len(), "{l}");
            (f[0].to_string(), f[1].to_string(), f[2..].iter().map(|v| v.parse().unwrap()).collect())
        })
        .collect()
}

/// (correct, total) from eval's `accuracy 0.xxxx (C of T)` line.
fn eval_counts(stdout: &str) -> (usize, usize) {
    let line = stdout.lines().find(|l| l.starts_with("accuracy ")).unwrap_or_else(|| panic!("no accuracy line: {stdout}"));
    let inner = &line[line.find('(').unwrap() + 1..line.find(')').unwrap()];
    let (c, t) = inner.split_once(" of ").unwrap();
    (c.parse().unwrap(), t.parse().unwrap())
}

/// PNG files under `dir`, counted in every sub-folder.
fn pngs_under(dir: &Path) -> usize {
    let count = |p: PathBuf| if p.is_dir() { pngs_under(&p) } else { usize::from(p.extension().is_some_and(|e| e == "png")) };
    std::fs::read_dir(dir).unwrap().map(|e| count(e.unwrap().path())).sum()
}

const CLASSES: [&str; 2] = ["0_normal", "1_lesion"];
// --no-tune: these tests are about predictions, not GEMM timings
const TRAIN: [&str; 9] = ["train-teacher", "--input", "64", "--width", "0.125", "--hidden", "32", "--quiet", "--no-tune"];

#[test]
fn predict_agrees_with_eval_and_its_probabilities_sum_to_one() {
    let f = fixture();
    let csv = f.dir.join("test.csv");
    let test_dir = format!("{}/test", f.data());
    let (code, _, err) = heft(&["predict", "--model", &f.model(), &test_dir, "--out", &csv.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("predicted 20 images"), "{err}");
    let rows = read_csv(&std::fs::read_to_string(&csv).unwrap(), &CLASSES);
    assert_eq!(rows.len(), 20, "one row per test image");
    let mut correct = 0;
    for (path, predicted, probs) in &rows {
        assert!((probs.iter().sum::<f64>() - 1.0).abs() <= 1e-5, "{path}: {probs:?}");
        let best = (0..probs.len()).fold(0, |b, j| if probs[j] > probs[b] { j } else { b });
        assert_eq!(predicted, CLASSES[best], "{path}: the predicted class is the most probable one");
        let truth = Path::new(path).parent().unwrap().file_name().unwrap().to_str().unwrap();
        correct += usize::from(truth == predicted);
    }
    let (code, out, err) = heft(&["eval", "--model", &f.model(), "--data", &f.data()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(eval_counts(&out), (correct, 20), "eval and predict disagree: {out}");

    // image by image: labelled with predict's classes, eval finds every image right
    let relabelled = f.dir.join("relabelled");
    for (i, (path, predicted, _)) in rows.iter().enumerate() {
        std::fs::create_dir_all(relabelled.join(predicted)).unwrap();
        std::fs::copy(path, relabelled.join(format!("{predicted}/{i}.png"))).unwrap();
    }
    assert!(CLASSES.iter().all(|c| relabelled.join(c).is_dir()), "the fixture model should predict both classes: {rows:?}");
    let (code, out, err) = heft(&["eval", "--model", &f.model(), "--data", &relabelled.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(eval_counts(&out), (20, 20), "eval and predict disagree on some image: {out}");
}

#[test]
fn predict_writes_json_and_never_replaces_an_existing_file() {
    let f = fixture();
    let test_dir = format!("{}/test", f.data());
    let (code, out, err) = heft(&["predict", "--model", &f.model(), &test_dir, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["classes"], serde_json::json!(CLASSES));
    assert_eq!(v["predictions"].as_array().unwrap().len(), 20);
    let p: Vec<f64> = v["predictions"][0]["probabilities"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert!((p.iter().sum::<f64>() - 1.0).abs() <= 1e-5, "{p:?}");

    let mine = f.dir.join("mine.csv");
    std::fs::write(&mine, b"precious").unwrap();
    let m = mine.display().to_string();
    assert_clean_error(&["predict", "--model", &f.model(), &test_dir, "--out", &m], "already exists");
    assert_eq!(std::fs::read(&mine).unwrap(), b"precious");
    let (code, _, err) = heft(&["predict", "--model", &f.model(), &test_dir, "--out", &m, "--overwrite"]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&mine).unwrap().starts_with("path,predicted,"));
    assert_clean_error(&["predict", "--model", &f.model(), &format!("{}/nope", f.data())], "does not exist");
    assert_clean_error(&["predict", "--model", &f.model(), &test_dir, "--out", &format!("{}/no/p.csv", f.data())], "create it");
}

#[test]
fn eval_scores_every_image_of_a_folder_without_splits() {
    let f = fixture();
    let test_dir = format!("{}/test", f.data());
    let (code, out, err) = heft(&["eval", "--model", &f.model(), "--data", &test_dir]);
    assert_eq!(code, 0, "{err}");
    let n = pngs_under(Path::new(&test_dir));
    assert!(out.contains(&format!("scored {n} of the {n} images")), "{out}");
    assert_eq!(eval_counts(&out).1, n);
    // --split all on a split dataset: train, val and test together
    let (code, out, err) = heft(&["eval", "--model", &f.model(), "--data", &f.data(), "--split", "all"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(eval_counts(&out).1, pngs_under(&f.dir.join("ds")), "{out}");
}

#[test]
fn unreadable_and_truncated_images_are_listed_not_fatal() {
    let f = fixture();
    let dir = f.dir.join("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_dir(f.dir.join("ds/test/0_normal")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&good, dir.join("good.png")).unwrap();
    std::fs::write(dir.join("corrupt.png"), b"not a png").unwrap();
    let jpeg = dir.join("cut.jpg");
    let gray = image::DynamicImage::ImageLuma8(image::open(&good).unwrap().to_luma8());
    gray.resize_exact(128, 128, image::imageops::FilterType::Triangle).save(&jpeg).unwrap();
    let bytes = std::fs::read(&jpeg).unwrap();
    std::fs::write(&jpeg, &bytes[..bytes.len() / 3]).unwrap();
    let d = dir.display().to_string();

    let (code, out, err) = heft(&["predict", "--model", &f.model(), &d]);
    assert_eq!(code, 0, "{err}");
    let rows = read_csv(&out, &CLASSES);
    let names: Vec<&str> = rows.iter().map(|r| r.0.rsplit('/').next().unwrap()).collect();
    assert_eq!(names, ["cut.jpg", "good.png"], "the truncated JPEG is used");
    assert!(err.contains("cut.jpg") && err.contains("truncated"), "a warning names the truncated file: {err}");
    assert!(err.contains("1 unreadable") && err.contains("corrupt.png"), "{err}");

    let (code, out, err) = heft(&["predict", "--model", &f.model(), &d, "--strict"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_csv(&out, &CLASSES).len(), 1, "--strict skips the truncated JPEG");
    assert!(err.contains("2 unreadable") && err.contains("cut.jpg"), "{err}");
}

#[test]
fn a_batch_larger_than_the_training_set_is_clamped_with_a_warning() {
    let f = fixture();
    let out = f.dir.join("big-batch").display().to_string();
    let (code, _, err) = heft(&[&TRAIN[..], &["--data", &f.data(), "--batch", "100000", "--epochs", "2", "--out", &out]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("warning: batch 100000 is larger than the 48 training images; using batch 48").count(), 1, "{err}");
}

#[test]
fn a_student_checkpoint_predicts_too() {
    use heft::nn::{checkpoint, convert::to_student, model::StudentConfig};
    let f = fixture();
    let teacher = checkpoint::load(&common::gpu(), Path::new(&f.model())).unwrap();
    let student_path = f.dir.join("student/student.safetensors");
    std::fs::create_dir_all(student_path.parent().unwrap()).unwrap();
    checkpoint::save(&to_student(&teacher, &StudentConfig::default()).unwrap(), &student_path).unwrap();
    let test_dir = format!("{}/test", f.data());
    let (code, out, err) = heft(&["predict", "--model", &student_path.display().to_string(), &test_dir]);
    assert_eq!(code, 0, "{err}");
    let rows = read_csv(&out, &CLASSES);
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| (r.2.iter().sum::<f64>() - 1.0).abs() <= 1e-5));
}
