//! `heft parity` against PyTorch on a tiny AlexNet and synthetic data: the same recipe gives
//! curves that agree step by step (teacher with Adam and with SGD, and a student distilled
//! from it), and a recipe
//! difference seeded on the PyTorch side only makes the comparison fail at a named step. Needs
//! a Python with torch and safetensors (`HEFT_PYTHON`, else `python3`); without one it prints
//! `SKIPPED: <reason>`.

mod common;

use common::{heft, python_with, tmp};

#[test]
fn parity_agrees_with_pytorch_and_fails_on_a_seeded_recipe_difference() {
    let Some(py) = python_with("HEFT_PYTHON", "torch, safetensors") else {
        println!("SKIPPED: no Python with torch and safetensors (set HEFT_PYTHON or pip install torch safetensors)");
        return;
    };
    let dir = tmp("parity");
    let d = dir.display().to_string();
    let ds = format!("{d}/ds");
    assert_eq!(heft(&["synth", "--out", &ds, "--train", "16", "--val", "4", "--test", "4"]).0, 0);
    let model = ["--model", "alexnet", "--width", "0.125", "--hidden", "32"];
    let run = ["--data", &ds, "--batch", "4", "--steps", "8", "--eval-every", "4", "--eval-images", "8", "--python", &py, "--threads", "1"];
    let parity = |extra: &[&str], out: &str| heft(&[&["parity"][..], &model, &run, &["--out", out], extra].concat());

    let (code, out, err) = parity(&[], &format!("{d}/same"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("the training curves agree within tolerance over 8 steps"), "{out}");

    // weight decay 0.5 instead of 5e-4 on the PyTorch side: the first step's loss is the same
    // (taken before any update), the later ones are not
    let (code, out, err) = parity(&["--peer-override", "weight_decay=0.5"], &format!("{d}/wd"));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("heft and PyTorch part at step") && out.contains("apart"), "{out}\n{err}");
    assert!(!out.contains("part at step 1:"), "step 1 precedes every update: {out}");

    // SGD with momentum (--optimizer sgd) against torch.optim.SGD
    let (code, out, err) = parity(&["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.01"], &format!("{d}/sgd"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("the training curves agree within tolerance over 8 steps"), "{out}");

    // a student distilled from a (one-epoch) teacher: CE + α·T²·KD and the coefficients' rate
    let teacher = ["train-teacher", "--data", &ds, "--epochs", "1", "--batch", "4", "--quiet", "--no-tune", "--out", &d];
    let (code, _, err) = heft(&[&teacher[..], &model].concat());
    assert_eq!(code, 0, "{err}");
    let t = format!("{d}/teacher.safetensors");
    let (code, out, err) = parity(&["--teacher", &t, "--clip-value", "1"], &format!("{d}/student"));
    assert_eq!(code, 0, "{out}\n{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
