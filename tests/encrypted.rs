//! Encrypted inference through the open-licence route (`tools/he/orion_check.py`, orion-fhe on
//! Lattigo CKKS): a tiny AlexNet student trained and exported by heft runs on encrypted images
//! with logits that match heft's, and a coefficient changed in the exported ONNX is caught, both
//! by the plaintext check before encryption and by the encrypted comparison itself. Needs a
//! Python with orion-fhe, onnx and safetensors (`HEFT_HE_PYTHON`, else `python3`; orion-fhe
//! needs Python < 3.13); without one it prints `SKIPPED: <reason>`. Toy CKKS parameters
//! (N = 2^13, `--insecure`) keep it to a few minutes; what 128-bit runs need on this machine
//! is measured in tools/he/README.md.

mod common;

use common::{heft, python_with, tmp};
use std::process::Command;

fn orion_check(py: &str, onnx: &str, extra: &[&str]) -> (i32, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/he/orion_check.py");
    let out = Command::new(py)
        .args([script, onnx, "--images", "2", "--logn", "13", "--insecure"])
        .args(extra)
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn an_exported_student_runs_encrypted_and_a_wrong_coefficient_is_caught() {
    let Some(py) = python_with("HEFT_HE_PYTHON", "orion, onnx, safetensors") else {
        println!("SKIPPED: no Python with orion-fhe, onnx and safetensors (set HEFT_HE_PYTHON; pip install orion-fhe onnx safetensors)");
        return;
    };
    let dir = tmp("encrypted");
    let d = dir.display().to_string();
    let ds = format!("{d}/ds");
    assert_eq!(heft(&["synth", "--out", &ds, "--train", "16", "--val", "4", "--test", "4"]).0, 0);
    let tiny = ["--model", "alexnet", "--width", "0.125", "--hidden", "32"];
    let (code, _, err) = heft(&[&["train-teacher", "--data", &ds, "--out", &format!("{d}/t"), "--epochs", "1", "--batch", "8", "--quiet"][..], &tiny].concat());
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = heft(&["train-student", "--teacher", &format!("{d}/t/teacher.safetensors"), "--data", &ds, "--out", &format!("{d}/s"), "--epochs", "1", "--batch", "8", "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let onnx = format!("{d}/s.onnx");
    let (code, _, err) = heft(&["export", &format!("{d}/s/student.safetensors"), "--onnx", &onnx, "--samples", "4", "--data", &ds]);
    assert_eq!(code, 0, "{err}");

    let (code, out) = orion_check(&py, &onnx, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS: 2/2 argmax agree with heft"), "{out}");
    assert!(out.contains("\"levels_consumed\": 18"), "AlexNet: 8 linear layers, 7 activations, 3 pools: {out}");

    // the first activation's x² coefficient ×1.5 in the exported graph, heft's logits unchanged
    let bad = format!("{d}/bad.onnx");
    let seed = format!(
        "import onnx, numpy as np, shutil\nfrom onnx import numpy_helper as nh\nm = onnx.load('{onnx}')\n\
         for i in m.graph.initializer:\n    if i.name == 'features.1.c2':\n        i.CopyFrom(nh.from_array(nh.to_array(i) * np.float32(1.5), i.name))\n\
         onnx.save(m, '{bad}')\nshutil.copy('{onnx}.sample.safetensors', '{bad}.sample.safetensors')\n"
    );
    let seeded = Command::new(&py).args(["-c", &seed]).output().unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    let (code, out) = orion_check(&py, &bad, &[]);
    assert_eq!(code, 2, "the plaintext check must stop a wrong coefficient: {out}");
    assert!(out.contains("does not compute heft's logits"), "{out}");
    let (code, out) = orion_check(&py, &bad, &["--skip-plaintext-check"]);
    assert_eq!(code, 1, "the encrypted logits must differ from heft's: {out}");
    assert!(out.contains("FAIL:"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
