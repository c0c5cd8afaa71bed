//! Bad `heft check --against` dumps (`dump.safetensors`, PyTorch golden files): cut short,
//! hostile header lengths, a wrong dtype, and metadata heft cannot honour (unknown keys,
//! dropout, a batch that does not match `x`, class weights of the wrong length, a missing Adam
//! setting, an architecture that does not fit the weights). The valid file is the ResNet-20
//! teacher dump of data/reference.

use super::common::gpu;
use super::{folder, run_mutations, run_table, with_header, with_header_len, Case};
use heft::check::Golden;
use serde_json::{json, Value};
use std::path::Path;

const D: &str = "dump.safetensors";

/// The dump with metadata `key` set to the JSON text of `v` (removed when `v` is null).
fn meta(bytes: &[u8], key: &str, v: Value) -> Vec<u8> {
    with_header(bytes, |h| match v {
        Value::Null => drop(h["__metadata__"].as_object_mut().unwrap().remove(key)),
        v => h["__metadata__"][key] = json!(v.to_string()),
    })
}

pub const CASES: &[Case] = &[
    Case { name: "zero-byte file", file: D, bytes: |_| vec![], error: Some("header too small") },
    Case { name: "cut inside the data", file: D, bytes: |v| v[..v.len() / 2].to_vec(), error: Some("incomplete metadata") },
    Case { name: "header length 2^63", file: D, bytes: |v| with_header_len(v, 1 << 63), error: Some("header too large") },
    Case { name: "header length beyond the file", file: D, bytes: |v| with_header_len(v, v.len() as u64), error: Some("invalid header length") },
    Case { name: "x stored as I32", file: D, bytes: |v| with_header(v, |h| h["x"]["dtype"] = json!("I32")), error: Some("tensor x is I32, expected F32") },
    Case { name: "unknown metadata key", file: D, bytes: |v| meta(v, "label_smoothing", json!(0.1)), error: Some("\"label_smoothing\" is not supported by heft check") },
    Case { name: "dropout 0.5", file: D, bytes: |v| meta(v, "dropout", json!(0.5)), error: Some("cannot reproduce PyTorch's dropout") },
    Case { name: "batch does not match x", file: D, bytes: |v| meta(v, "batch", json!(3)), error: Some("\"batch\" is 3") },
    Case { name: "class weights of the wrong length", file: D, bytes: |v| meta(v, "class_weights", json!([1.0])), error: Some("\"class_weights\" needs") },
    Case { name: "Adam without betas", file: D, bytes: |v| meta(v, "adam", json!({"lr": 0.01, "eps": 1e-8, "weight_decay": 0.0})), error: Some("adam betas") },
    Case { name: "no arch metadata", file: D, bytes: |v| meta(v, "arch", Value::Null), error: Some("has no metadata arch") },
    Case { name: "arch alexnet with ResNet-20 weights", file: D, bytes: |v| meta(v, "arch", json!("alexnet")), error: Some("AlexNet") },
];

/// What `heft check --against` does with the dump up to its first comparison.
fn read(path: &Path) -> heft::Result<()> {
    let g = Golden::open(path)?;
    heft::check::model(&gpu(), &path.display().to_string(), &g).map(drop)
}

#[test]
fn bad_dumps_give_errors_naming_the_file() {
    let dir = folder("dump");
    let valid = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/reference/resnet20_teacher.safetensors")).unwrap();
    run_table("dump", &dir, &valid, CASES, &read);
    // mutations go through the parser only: a dump that parses would run a whole check
    run_mutations("dump", &dir, D, &valid, &|p| Golden::open(p).map(drop));
    std::fs::remove_dir_all(&dir).unwrap();
}
