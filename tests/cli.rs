//! The command line on bad input: a clear one-line error and exit code 1, never a panic trace;
//! nothing the user had is overwritten.

mod common;

use common::{assert_clean_error, heft, tmp};

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tmp("bad");
    let d = dir.display().to_string();
    assert_clean_error(&["train-teacher", "--data", &format!("{d}/nope"), "--out", &format!("{d}/o")], "does not exist");
    // a corrupt teacher checkpoint, a missing model (with valid data)
    let ds = format!("{d}/ds");
    assert_eq!(heft(&["synth", "--out", &ds, "--size", "32", "--train", "2", "--val", "1", "--test", "1"]).0, 0);
    // the first real problem is named: the weights file before its JSON config
    std::fs::write(dir.join("t.safetensors"), b"not safetensors").unwrap();
    std::fs::write(dir.join("t.json"), b"{ not json").unwrap();
    assert_clean_error(&["train-student", "--teacher", &format!("{d}/t.safetensors"), "--data", &ds, "--out", &format!("{d}/o")], "t.safetensors: not a safetensors file");
    assert_clean_error(&["eval", "--model", &format!("{d}/missing.safetensors"), "--data", &ds], "missing.safetensors");
    // an empty but valid safetensors file: now the broken config is the problem
    std::fs::write(dir.join("e.safetensors"), [&2u64.to_le_bytes()[..], b"{}"].concat()).unwrap();
    std::fs::write(dir.join("e.json"), b"{ not json").unwrap();
    assert_clean_error(&["train-student", "--teacher", &format!("{d}/e.safetensors"), "--data", &ds, "--out", &format!("{d}/o")], "not a heft model config");
    // an empty class folder
    std::fs::create_dir_all(dir.join("data/a")).unwrap();
    std::fs::create_dir_all(dir.join("data/b")).unwrap();
    assert_clean_error(&["train-teacher", "--data", &format!("{d}/data"), "--out", &format!("{d}/o")], "data/a");
    assert_clean_error(&["synth", "--out", &format!("{d}/s"), "--classes", "5"], "2 or 3 classes");
    assert_clean_error(&["--adapter", "no-such-gpu", "bench"], "no adapter name contains");
    assert_clean_error(&["summary", "--model", "alexnet", "--input", "32"], "AlexNet cannot take 32 px input");
    assert_clean_error(&["summary", "--model", "resnet20", "--input", "32", "--batchnorm"], "ResNet-20 always has BatchNorm");
    assert_clean_error(&["check", "--against", &format!("{d}/t.safetensors")], "t.safetensors");
    // parity: a Python that cannot be run is named before any training, as is a bad override
    assert_clean_error(&["parity", "--data", &ds, "--python", &format!("{d}/no-python")], "no-python");
    assert_clean_error(&["parity", "--data", &ds, "--peer-override", "lr"], "expected KEY=VALUE");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn existing_runs_are_not_overwritten() {
    let dir = tmp("keep");
    let d = dir.display().to_string();
    std::fs::write(dir.join("teacher.safetensors"), b"precious").unwrap();
    assert_clean_error(&["train-teacher", "--data", &d, "--out", &d], "already exists");
    assert_clean_error(&["demo", "--out", &d], "teacher.safetensors already exists");
    assert_eq!(std::fs::read(dir.join("teacher.safetensors")).unwrap(), b"precious");
    // a metrics log without a checkpoint (a run that stopped early) is kept too
    std::fs::write(dir.join("student_metrics.jsonl"), b"{}\n").unwrap();
    assert_clean_error(&["train-student", "--teacher", &format!("{d}/teacher.safetensors"), "--data", &d, "--out", &d], "student_metrics.jsonl already exists");
    assert_eq!(std::fs::read(dir.join("student_metrics.jsonl")).unwrap(), b"{}\n");
    // export refuses to replace an ONNX file or its sample file, and checks its flags first
    std::fs::write(dir.join("s.onnx"), b"mine").unwrap();
    let m = format!("{d}/teacher.safetensors");
    assert_clean_error(&["export", &m, "--onnx", &format!("{d}/s.onnx")], "s.onnx already exists");
    std::fs::write(dir.join("t.onnx.sample.safetensors"), b"mine").unwrap();
    assert_clean_error(&["export", &m, "--onnx", &format!("{d}/t.onnx"), "--samples", "4", "--data", &d], "t.onnx.sample.safetensors already exists");
    assert_clean_error(&["export", &m, "--onnx", &format!("{d}/u.onnx"), "--samples", "4"], "--samples needs --data");
    assert!(!dir.join("t.onnx").exists() && !dir.join("u.onnx").exists());
    assert_eq!(std::fs::read(dir.join("s.onnx")).unwrap(), b"mine");
    // synth refuses a folder with other files in it
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let (code, _, err) = heft(&["synth", "--out", &d]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// export writes the ONNX file and its sample file together or not at all: a dataset without a
/// readable test image fails before anything is written, and leaves nothing that would block a
/// re-run.
#[test]
fn export_writes_both_files_or_neither() {
    use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};
    let dir = tmp("export");
    let d = dir.display().to_string();
    let gpu = heft::Gpu::new(&heft::AdapterChoice::default()).unwrap();
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, vec!["0_normal".into(), "1_lesion".into()], 1, 64) };
    let student = heft::nn::convert::to_student(&Model::teacher(&gpu, cfg, 0).unwrap(), &StudentConfig::default()).unwrap();
    let m = format!("{d}/student.safetensors");
    heft::nn::checkpoint::save(&student, std::path::Path::new(&m)).unwrap();
    // every image of this dataset is unreadable
    for split in ["train", "val", "test"] {
        for class in ["0_normal", "1_lesion"] {
            std::fs::create_dir_all(dir.join(format!("bad/{split}/{class}"))).unwrap();
            std::fs::write(dir.join(format!("bad/{split}/{class}/0.png")), b"not a png").unwrap();
        }
    }
    let onnx = format!("{d}/s.onnx");
    assert_clean_error(&["export", &m, "--onnx", &onnx, "--samples", "2", "--data", &format!("{d}/bad")], "readable test image");
    assert!(!dir.join("s.onnx").exists() && !dir.join("s.onnx.sample.safetensors").exists());
    // with readable data both files appear
    let ds = format!("{d}/ds");
    assert_eq!(heft(&["synth", "--out", &ds, "--train", "1", "--val", "1", "--test", "1"]).0, 0);
    let (code, out, err) = heft(&["export", &m, "--onnx", &onnx, "--samples", "2", "--data", &ds]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 test images"), "{out}");
    assert!(dir.join("s.onnx").exists() && dir.join("s.onnx.sample.safetensors").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `heft tune` times the GEMM shapes and convolution passes of a step once and caches them: a
/// second run times nothing and prints the same choices. Its flags and bench's and profile's are checked first.
#[test]
fn tune_caches_its_choices_and_the_next_run_reuses_them() {
    let dir = tmp("tune");
    let d = dir.display().to_string();
    let args = ["tune", "--width", "0.125", "--hidden", "32", "--batch", "2", "--reps", "1", "--cache", &d];
    let (code, out, err) = heft(&args);
    assert_eq!(code, 0, "{err}");
    let is_row = |l: &&str| l.starts_with("GEMM ") || l.starts_with("conv2d_");
    let rows: Vec<&str> = out.lines().filter(is_row).collect();
    // AlexNet: 5 convolutions, each a forward and a backward pass
    assert_eq!(rows.iter().filter(|l| l.starts_with("conv2d_")).count(), 10, "{out}");
    assert!(out.contains(&format!("{} ops ({} timed now", rows.len(), rows.len())), "{out}");
    let caches: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("tune-")).collect();
    assert_eq!(caches.len(), 1, "one cache file per adapter");
    let (code, again, err) = heft(&args);
    assert_eq!(code, 0, "{err}");
    assert!(again.contains("(0 timed now"), "{again}");
    let rows_again: Vec<&str> = again.lines().filter(is_row).collect();
    assert_eq!(rows, rows_again, "the cached choices are printed unchanged");
    assert_clean_error(&["tune", "--reps", "0", "--cache", &d], "--reps must be at least 1");
    assert_clean_error(&["bench", "--quick"], "go with --steps");
    assert_clean_error(&["bench", "--steps", "--burn", &format!("{d}/no-burn-step")], "is not a file");
    std::fs::write(dir.join("trace.json"), b"mine").unwrap();
    assert_clean_error(&["profile", "--no-tune", "--trace", &format!("{d}/trace.json")], "already exists");
    assert_eq!(std::fs::read(dir.join("trace.json")).unwrap(), b"mine");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On a folder of class folders (no train/val/test of its own) the split follows --split-seed,
/// not --seed: a teacher and a student trained with other seeds are tested on the same images.
/// The runs' fingerprints (in `teacher_done.json`) hold a digest of each split.
#[test]
fn the_split_of_an_unsplit_folder_follows_split_seed_not_seed() {
    let dir = tmp("split");
    let ds = dir.join("ds");
    assert_eq!(heft(&["synth", "--out", &ds.display().to_string(), "--size", "32", "--train", "6", "--val", "2", "--test", "2"]).0, 0);
    // flatten the synthetic splits into flat/<class>/
    let flat = dir.join("flat");
    for split in ["train", "val", "test"] {
        for class in std::fs::read_dir(ds.join(split)).unwrap().map(|e| e.unwrap()) {
            let to = flat.join(class.file_name());
            std::fs::create_dir_all(&to).unwrap();
            for f in std::fs::read_dir(class.path()).unwrap().map(|e| e.unwrap()) {
                std::fs::copy(f.path(), to.join(format!("{split}-{}", f.file_name().to_string_lossy()))).unwrap();
            }
        }
    }
    let data = |seed: &str, split_seed: &str, out: &str| -> serde_json::Value {
        let out = dir.join(out).display().to_string();
        let flat = flat.display().to_string();
        let args = ["train-teacher", "--quiet", "--epochs", "1", "--input", "64", "--width", "0.125", "--hidden", "16", "--batch", "4", "--no-tune"];
        let (code, _, err) = heft(&[&args[..], &["--data", &flat, "--seed", seed, "--split-seed", split_seed, "--out", &out]].concat());
        assert_eq!(code, 0, "{err}");
        let done: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{out}/teacher_done.json")).unwrap()).unwrap();
        let fingerprint: serde_json::Value = serde_json::from_str(done["fingerprint"].as_str().unwrap()).unwrap();
        fingerprint["data"].clone()
    };
    let (a, b, c) = (data("1", "123", "a"), data("2", "123", "b"), data("1", "7", "c"));
    assert_eq!((&a["train"], &a["val"], &a["test"]), (&b["train"], &b["val"], &b["test"]), "another --seed, the same split");
    assert_ne!(a["test"], c["test"], "another --split-seed, another split");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `train-teacher --batchnorm` trains a SqueezeNet with batch norm, `summary` shows them, and
/// `train-student` takes that teacher as it takes any other.
#[test]
fn a_batchnorm_teacher_trains_and_distils_through_the_cli() {
    let dir = tmp("bn");
    let d = dir.display().to_string();
    let ds = format!("{d}/ds");
    assert_eq!(heft(&["synth", "--out", &ds, "--train", "4", "--val", "2", "--test", "2"]).0, 0);
    let model = ["--model", "squeezenet1_1", "--width", "0.125", "--batchnorm"];
    let (code, out, err) = heft(&[&["summary"][..], &model].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("teacher with batch norm") && out.contains("features.3.expand3x3.bn"), "{out}");
    let run = ["--epochs", "1", "--batch", "4", "--quiet", "--no-tune", "--data", &ds, "--out", &d];
    let (code, _, err) = heft(&[&["train-teacher"][..], &model, &run].concat());
    assert_eq!(code, 0, "{err}");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("teacher.json")).unwrap()).unwrap();
    assert_eq!(cfg["batchnorm"], true, "{cfg}");
    let teacher = format!("{d}/teacher.safetensors");
    let (code, _, err) = heft(&[&["train-student", "--teacher", &teacher][..], &run].concat());
    assert_eq!(code, 0, "{err}");
    let student: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("student.json")).unwrap()).unwrap();
    assert_eq!((&student["batchnorm"], student["student"].is_object()), (&serde_json::Value::Bool(true), true), "{student}");
    std::fs::remove_dir_all(&dir).unwrap();
}
