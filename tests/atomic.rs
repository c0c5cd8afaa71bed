//! Atomic writes (`heft::fsx`) with a failure injected: a target that is a folder (the final
//! rename fails), a parent that is a file (the temporary file cannot be made), a file that
//! `write_new` must not replace; the metrics log, which replaces the previous log only with its
//! first whole record; a chart written through the helper; and a checkpoint saved onto a full
//! disk (a tiny tmpfs). Each time the previous file is intact and no temporary file is left.

mod common;

use heft::report::{line_chart, read_jsonl, MetricsLog};
use serde_json::json;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("heft-atomic-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn a_write_replaces_the_file_whole_and_leaves_no_temporary_file() {
    let dir = tmp("ok");
    let path = dir.join("out.json");
    std::fs::write(&path, b"old").unwrap();
    heft::fsx::write(&path, b"new contents").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
    assert_eq!(names(&dir), ["out.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_rename_keeps_what_was_there_and_removes_the_temporary_file() {
    let dir = tmp("rename");
    let target = dir.join("out.json");
    std::fs::create_dir_all(target.join("inside")).unwrap();
    let e = heft::fsx::write(&target, b"new").unwrap_err().to_string();
    assert!(e.contains("out.json"), "{e}");
    assert!(target.join("inside").is_dir());
    assert_eq!(names(&dir), ["out.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_parent_that_is_a_file_is_an_error_naming_the_path() {
    let dir = tmp("parent");
    std::fs::write(dir.join("file.txt"), b"precious").unwrap();
    let e = heft::fsx::write(&dir.join("file.txt/out.json"), b"new").unwrap_err().to_string();
    assert!(e.contains("file.txt/out.json"), "{e}");
    assert_eq!(std::fs::read(dir.join("file.txt")).unwrap(), b"precious");
    assert_eq!(names(&dir), ["file.txt"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_new_never_replaces_a_file() {
    let dir = tmp("new");
    let path = dir.join("model.onnx");
    std::fs::write(&path, b"precious").unwrap();
    let e = heft::fsx::write_new(&path, b"new").unwrap_err().to_string();
    assert!(e.contains("model.onnx already exists"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    assert_eq!(names(&dir), ["model.onnx"]);
    heft::fsx::write_new(&dir.join("other.onnx"), b"new").unwrap();
    assert_eq!(std::fs::read(dir.join("other.onnx")).unwrap(), b"new");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_metrics_log_replaces_the_previous_log_only_with_a_whole_record() {
    let dir = tmp("log");
    let path = dir.join("metrics.jsonl");
    std::fs::write(&path, "{\"epoch\":1}\n{\"epoch\":2}\n").unwrap();
    // a run that stops before its first record: the previous log as it was, no temporary file
    drop(MetricsLog::create(&path).unwrap());
    assert_eq!(read_jsonl(&path).unwrap(), [json!({"epoch": 1}), json!({"epoch": 2})]);
    assert_eq!(names(&dir), ["metrics.jsonl"]);
    // started, not yet written: still the previous log
    let mut log = MetricsLog::create(&path).unwrap();
    assert_eq!(read_jsonl(&path).unwrap().len(), 2);
    log.write(&json!({"run": 2, "epoch": 1})).unwrap();
    assert_eq!(read_jsonl(&path).unwrap(), [json!({"run": 2, "epoch": 1})]);
    log.write(&json!({"run": 2, "epoch": 2})).unwrap();
    assert_eq!(read_jsonl(&path).unwrap().len(), 2);
    drop(log);
    assert_eq!(names(&dir), ["metrics.jsonl"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_chart_that_cannot_be_written_leaves_nothing_behind() {
    let dir = tmp("chart");
    let series: &[(&str, &[f64])] = &[("train", &[1.0, 0.5])];
    line_chart(&dir.join("loss.svg"), "loss", series).unwrap();
    let before = std::fs::read(dir.join("loss.svg")).unwrap();
    std::fs::create_dir_all(dir.join("loss.png/inside")).unwrap();
    let e = line_chart(&dir.join("loss.png"), "loss", series).unwrap_err().to_string();
    assert!(e.contains("loss.png"), "{e}");
    assert_eq!(names(&dir), ["loss.png", "loss.svg"]);
    assert_eq!(std::fs::read(dir.join("loss.svg")).unwrap(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_saved_onto_a_full_disk_keeps_the_previous_one() {
    use heft::nn::{checkpoint, model::{Arch, Model, ModelConfig}};
    let Some(fs) = common::Tmpfs::mount("atomic-full", 4 << 20) else { return };
    let path = fs.dir.join("m.safetensors");
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    let model = |seed| Model::teacher(&common::gpu(), cfg.clone(), seed).unwrap();
    checkpoint::save(&model(1), &path).unwrap();
    let before = [std::fs::read(&path).unwrap(), std::fs::read(fs.dir.join("m.json")).unwrap()];
    fs.fill();
    let e = checkpoint::save(&model(2), &path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()) && e.contains("out of disk space (No space left on device"), "{e}");
    assert!([std::fs::read(&path).unwrap(), std::fs::read(fs.dir.join("m.json")).unwrap()] == before, "the checkpoint changed");
    assert_eq!(names(&fs.dir), ["filler", "m.json", "m.safetensors"]);
    // the same save goes through once there is room
    fs.free();
    checkpoint::save(&model(2), &path).unwrap();
    assert!(std::fs::read(&path).unwrap() != before[0]);
}
