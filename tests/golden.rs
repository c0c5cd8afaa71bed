//! heft against the PyTorch golden files in data/reference/ (kernels with their gradients,
//! whole AlexNet/SqueezeNet teachers and students: logits, loss, every parameter gradient, each
//! Adam step's loss from PyTorch's parameters), and against the CPU reference on random shapes —
//! the same checks `heft check` runs. Tolerances are stated per comparison in src/check/.
//! The whole-model checks are also run on dumps altered here the way a bug would alter them,
//! to see that they fail, and where.

mod common;

use heft::check::{failures, first_failure, model, Golden, Row, GOLDEN};
use std::collections::HashMap;

#[test]
fn golden_files_match() {
    let rows = heft::check::golden(&common::gpu()).unwrap();
    let mut worst: std::collections::BTreeMap<String, f64> = Default::default();
    for r in &rows {
        let key = format!("{} {}", r.kernel, r.case.split_whitespace().last().unwrap_or(""));
        let e = worst.entry(if r.kernel.contains('_') { r.kernel.clone() } else { key }).or_default();
        *e = e.max(r.max_abs);
    }
    for (k, v) in &worst {
        eprintln!("worst abs error {k}: {v:.3e}");
    }
    let failed = failures(&rows);
    assert!(failed.is_empty(), "{} of {} comparisons failed, first: {:?}", failed.len(), rows.len(), failed[0]);
    assert!(rows.len() > 60, "only {} comparisons", rows.len());
}

#[test]
fn random_shapes_match_the_cpu_reference() {
    let rows = heft::check::random(&common::gpu(), 3, 7).unwrap();
    assert!(failures(&rows).is_empty(), "{:?}", failures(&rows));
}

/// The shipped dump `name` with its tensors passed through `tensor(name, values)` and its
/// metadata through `meta`.
fn altered(name: &str, tensor: impl Fn(&str, &mut [f32]), meta: impl Fn(&mut HashMap<String, String>)) -> Golden {
    rebuilt(name, |_| true, tensor, meta)
}

/// `altered`, keeping only the tensors whose name passes `keep`.
fn rebuilt(name: &str, keep: impl Fn(&str) -> bool, tensor: impl Fn(&str, &mut [f32]), meta: impl Fn(&mut HashMap<String, String>)) -> Golden {
    let (_, bytes) = GOLDEN.iter().find(|(n, _)| *n == name).unwrap();
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, md) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (n, v) in st.tensors().into_iter().filter(|(n, _)| keep(n)) {
        let mut vals: Vec<f32> = v.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        tensor(&n, &mut vals);
        tensors.push((n, v.shape().to_vec(), vals.iter().flat_map(|x| x.to_le_bytes()).collect()));
    }
    let views = tensors.iter().map(|(n, s, d)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap()));
    let mut metadata = md.metadata().clone().unwrap();
    meta(&mut metadata);
    Golden::parse(name, &safetensors::serialize(views, Some(metadata)).unwrap()).unwrap()
}

fn first(rows: &[Row]) -> &str {
    &first_failure(rows).expect("an altered dump must fail").case
}

#[test]
fn a_wrong_conv_weight_gradient_is_named_at_its_layer() {
    // PyTorch's gradient of the inner conv features.3's weight scaled by 1.5, as a bug in that
    // conv's weight-gradient kernel would make heft's differ: forward rows and every gradient
    // computed before it (features.12 … features.3.bias) pass, features.3.weight is named
    let g = altered("alexnet_student", |n, v| if n == "grad/features.3.weight" { v.iter_mut().for_each(|x| *x *= 1.5) }, |_| {});
    let rows = model(&common::gpu(), "corrupted", &g).unwrap();
    assert_eq!(first(&rows), "grad features.3.weight");
    assert_eq!(failures(&rows).len(), 1, "{:?}", failures(&rows));
}

#[test]
fn a_dump_of_forward_and_gradients_only_is_checked_on_what_it_has() {
    // the simplest dump a user writes: no trajectory, no step<k>/ parameters, no adam settings
    let minimal = |tensor: &dyn Fn(&str, &mut [f32])| {
        rebuilt("alexnet_student", |n| n != "trajectory" && !n.starts_with("step"), tensor, |m| {
            m.remove("adam");
        })
    };
    let gpu = common::gpu();
    let rows = model(&gpu, "minimal", &minimal(&|_, _| {})).unwrap();
    assert!(failures(&rows).is_empty(), "{:?}", failures(&rows));
    let unchecked: Vec<&str> = rows.iter().filter(|r| !r.checked).map(|r| r.case.as_str()).collect();
    assert_eq!(unchecked, ["Adam steps: the dump has no adam settings"]);
    assert!(rows.iter().filter(|r| r.checked).count() > 10 && rows.iter().any(|r| r.checked && r.case == "grad features.3.weight"));
    // what it has is still judged: a wrong gradient in it is named
    let rows = model(&gpu, "minimal", &minimal(&|n, v| if n == "grad/features.3.weight" { v.iter_mut().for_each(|x| *x *= 1.5) })).unwrap();
    assert_eq!(first(&rows), "grad features.3.weight");
    // with the adam settings but no step parameters, each teacher-forced step is listed
    let g = rebuilt("alexnet_teacher", |n| !n.starts_with("step"), |_, _| {}, |_| {});
    let rows = model(&gpu, "no steps", &g).unwrap();
    assert!(failures(&rows).is_empty(), "{:?}", failures(&rows));
    assert!(rows.iter().any(|r| !r.checked && r.case == "step 2 loss (teacher forced): the dump has no step1/ parameters"), "{rows:?}");
}

#[test]
fn a_scaled_backward_is_named_at_its_layer() {
    // a backward scaled by 1.05 at the inner conv features.6 scales the gradient of that layer
    // and of every layer before it (AlexNet is a chain; the backward is linear in the upstream
    // gradient): the check must name features.6, not features.0 where the scaled gradients begin
    // in parameter order
    let before = ["features.0.", "features.1.", "features.2.", "features.3.", "features.4.", "features.5.", "features.6."];
    let scale = |n: &str, v: &mut [f32]| {
        if n.strip_prefix("grad/").is_some_and(|p| before.iter().any(|b| p.starts_with(b))) {
            v.iter_mut().for_each(|x| *x *= 1.05);
        }
    };
    let rows = model(&common::gpu(), "scaled", &altered("alexnet_student", scale, |_| {})).unwrap();
    assert!(first(&rows).starts_with("grad features.6."), "{:?}", first_failure(&rows));
    assert!(rows.iter().any(|r| r.case == "grad features.0.weight" && r.fails()));
}

#[test]
fn a_scaled_backward_in_a_fire_module_branch_is_named_at_its_layer() {
    // tests/data/scaled_backward.safetensors: PyTorch's gradients of the SqueezeNet student with
    // the backward of features.6.expand3x3 (one branch of a fire module) scaled by 1.05 through a
    // backward hook (tools/reference/make_golden.py, SCALED); its expand1x1 branch is unchanged,
    // its squeeze and every layer before get part of the scaled gradient
    let scaled = Golden::parse("scaled_backward", include_bytes!("data/scaled_backward.safetensors")).unwrap();
    assert_eq!((scaled.meta("model").unwrap(), scaled.meta("layer").unwrap()), ("squeezenet1_1_student".into(), "features.6.expand3x3".into()));
    let g = altered("squeezenet1_1_student", |n, v| if n.starts_with("grad/") { v.copy_from_slice(scaled.data(n).unwrap()) }, |_| {});
    let rows = model(&common::gpu(), "scaled", &g).unwrap();
    assert!(first(&rows).starts_with("grad features.6.expand3x3."), "{:?}", first_failure(&rows));
    assert!(rows.iter().any(|r| r.case == "grad features.0.weight" && r.fails()));
}

#[test]
fn each_adam_step_is_judged_from_the_references_parameters() {
    // PyTorch's parameters before step 3 altered (conv1's weights x1.01): heft's step-3 loss from
    // them differs from the stored one, so that teacher-forced row — and only it — fails; the
    // step-2 row and the free-running trajectory (information only) do not depend on them
    let g = altered("alexnet_teacher", |n, v| if n == "step2/features.0.weight" { v.iter_mut().for_each(|x| *x *= 1.01) }, |_| {});
    let rows = model(&common::gpu(), "step 3", &g).unwrap();
    assert_eq!(failures(&rows).iter().map(|r| r.case.as_str()).collect::<Vec<_>>(), ["step 3 loss (teacher forced)"]);
}

#[test]
fn class_weights_and_adam_settings_are_honoured() {
    let gpu = common::gpu();
    // the weighted dump passes with its class weights [0.5, 1, 2]; told they are all 1, the
    // loss (computed with other weights by PyTorch) is the first divergence
    let ok = model(&gpu, "weighted", &altered("squeezenet1_1_teacher_weighted", |_, _| {}, |_| {})).unwrap();
    assert!(failures(&ok).is_empty(), "{:?}", failures(&ok));
    let ones = altered("squeezenet1_1_teacher_weighted", |_, _| {}, |m| {
        m.insert("class_weights".into(), "[1.0, 1.0, 1.0]".into());
    });
    assert_eq!(first(&model(&gpu, "unweighted", &ones).unwrap()), "loss");
    // Adam's lr told 10x too large: the free-running trajectory is off (information only, so
    // the check still passes); the teacher-forced losses do not depend on heft's optimiser
    let fast = altered("squeezenet1_1_teacher", |_, _| {}, |m| {
        m.insert("adam".into(), r#"{"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0005}"#.into());
    });
    let rows = model(&gpu, "fast", &fast).unwrap();
    let traj = rows.iter().find(|r| r.info).unwrap();
    assert!(!traj.pass && failures(&rows).is_empty(), "{rows:?}");
}

#[test]
fn dump_settings_heft_cannot_honour_are_refused_by_name() {
    let gpu = common::gpu();
    for (key, value, needle) in [
        ("label_smoothing", "0.1", "\"label_smoothing\" is not supported"),
        ("dropout", "0.5", "dropout"),
        ("adam", r#"{"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0, "amsgrad": true}"#, "\"amsgrad\" is not supported"),
        ("class_weights", "[1.0, 2.0, 3.0]", "class_weights"),
    ] {
        let g = altered("squeezenet1_1_teacher", |_, _| {}, |m| {
            m.insert(key.into(), value.into());
        });
        let e = model(&gpu, "refused", &g).err().unwrap_or_else(|| panic!("{key}: accepted")).to_string();
        assert!(e.contains(needle), "{key}: {e}");
    }
}
