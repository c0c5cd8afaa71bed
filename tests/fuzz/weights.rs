//! Bad checkpoints (`m.safetensors`) and their JSON configs (`m.json`), read by
//! `checkpoint::load`: cut short, hostile header lengths (2^63, u64::MAX, beyond the file),
//! headers that are not JSON or point outside the data, a wrong dtype, mismatched shapes,
//! missing and unexpected tensors, and broken configs. The valid file is a tiny AlexNet's.

use super::common::gpu;
use super::{folder, run_mutations, run_table, with_header, with_header_len, Case};
use heft::nn::checkpoint::{self, LoadMode};
use heft::nn::model::{Arch, Model, ModelConfig};
use serde_json::{json, Value};
use std::cell::RefCell;

/// The name of the tensor whose data ends the file (its data can be cut off with it).
fn last_tensor(h: &Value) -> String {
    let end = |v: &Value| v["data_offsets"][1].as_u64().unwrap_or(0);
    h.as_object().unwrap().iter().filter(|(k, _)| *k != "__metadata__").max_by_key(|(_, v)| end(v)).unwrap().0.clone()
}

/// The valid checkpoint with `field` of the first conv weight's header entry changed by `f`.
fn conv0(v: &[u8], field: &str, f: fn(&Value) -> Value) -> Vec<u8> {
    with_header(v, |h| h["features.0.weight"][field] = f(&h["features.0.weight"]))
}

/// The valid checkpoint without its last tensor (header entry and data).
fn without_last(v: &[u8]) -> Vec<u8> {
    let mut cut = 0;
    let mut b = with_header(v, |h| {
        let name = last_tensor(h);
        cut = h[&name]["data_offsets"][0].as_u64().unwrap() as usize;
        h.as_object_mut().unwrap().remove(&name);
    });
    let data = b.len() - (v.len() - 8 - u64::from_le_bytes(v[..8].try_into().unwrap()) as usize);
    b.truncate(data + cut);
    b
}

fn tiny() -> ModelConfig {
    ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) }
}

/// The tiny model's config changed by `f`.
fn config(f: fn(&mut Value)) -> Vec<u8> {
    let mut c = serde_json::to_value(tiny()).unwrap();
    f(&mut c);
    c.to_string().into_bytes()
}

const W: &str = "m.safetensors";
const C: &str = "m.json";

pub const CASES: &[Case] = &[
    Case { name: "valid (control)", file: W, bytes: |v| v.to_vec(), error: None },
    Case { name: "zero-byte file", file: W, bytes: |_| vec![], error: Some("not a safetensors file") },
    Case { name: "cut inside the header length", file: W, bytes: |v| v[..5].to_vec(), error: Some("not a safetensors file") },
    Case { name: "cut inside the header", file: W, bytes: |v| v[..40].to_vec(), error: Some("not a safetensors file") },
    Case { name: "cut inside the data", file: W, bytes: |v| v[..v.len() - 100].to_vec(), error: Some("not a safetensors file") },
    Case { name: "header length 2^63", file: W, bytes: |v| with_header_len(v, 1 << 63), error: Some("not a safetensors file") },
    Case { name: "header length u64::MAX", file: W, bytes: |v| with_header_len(v, u64::MAX), error: Some("not a safetensors file") },
    Case { name: "header length beyond the file", file: W, bytes: |v| with_header_len(v, v.len() as u64), error: Some("not a safetensors file") },
    Case { name: "header not JSON", file: W, bytes: |v| { let mut b = v.to_vec(); b[8] = b'!'; b }, error: Some("not a safetensors file") },
    Case {
        name: "data offsets beyond the file",
        file: W,
        bytes: |v| conv0(v, "data_offsets", |_| json!([0, 1u64 << 40])),
        error: Some("not a safetensors file"),
    },
    Case { name: "dtype I32 instead of F32", file: W, bytes: |v| conv0(v, "dtype", |_| json!("I32")), error: Some("heft reads f32 and f64") },
    Case {
        name: "a tensor flattened (mismatched shape)",
        file: W,
        bytes: |v| conv0(v, "shape", |t| json!([t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).product::<u64>()])),
        error: Some("mis-shaped: "),
    },
    Case { name: "a tensor missing", file: W, bytes: without_last, error: Some("; missing: ") },
    Case {
        name: "an unexpected tensor",
        file: W,
        bytes: |v| {
            let start = u64::from_le_bytes(v[..8].try_into().unwrap()) as usize + 8;
            let end = (v.len() - start) as u64;
            [with_header(v, |h| h["extra.weight"] = json!({"dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]})), vec![0; 4]].concat()
        },
        error: Some("unexpected: extra.weight"),
    },
    Case { name: "config: zero bytes", file: C, bytes: |_| vec![], error: Some("m.json: not a heft model config") },
    Case { name: "config: not JSON", file: C, bytes: |_| b"{ not json".to_vec(), error: Some("m.json: not a heft model config") },
    Case { name: "config: unknown architecture", file: C, bytes: |_| config(|c| c["arch"] = json!("vgg16")), error: Some("unknown variant") },
    Case { name: "config: classes field missing", file: C, bytes: |_| config(|c| drop(c.as_object_mut().unwrap().remove("classes"))), error: Some("missing field") },
    Case { name: "config: 5 classes, weights for 2", file: C, bytes: |_| config(|c| { c["classes"] = json!(5); c["class_names"] = json!(["a", "b", "c", "d", "e"]) }), error: Some("m.safetensors does not match the model of") },
    Case { name: "config: input 10^9 px", file: C, bytes: |_| config(|c| c["input"] = json!(1_000_000_000u64)), error: Some("m.json: ") },
];

#[test]
fn bad_checkpoints_and_configs_give_errors_naming_the_file() {
    let dir = folder("weights");
    let model = Model::teacher(&gpu(), tiny(), 1).unwrap();
    checkpoint::save(&model, &dir.join(W)).unwrap();
    let valid = std::fs::read(dir.join(W)).unwrap();
    run_table("checkpoint", &dir, &valid, CASES, &|p| checkpoint::load(&gpu(), &p.with_file_name(W)).map(drop));
    // mutations against the model built once (its weights are overwritten, never used)
    let model = RefCell::new(model);
    run_mutations("checkpoint", &dir, W, &valid, &|p| checkpoint::load_state(&mut model.borrow_mut(), p, LoadMode::Strict).map(drop));
    std::fs::remove_dir_all(&dir).unwrap();
}
