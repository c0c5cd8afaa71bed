//! heft against the PyTorch golden files in data/reference/ (kernels with their gradients,
//! whole AlexNet/SqueezeNet teachers and students: logits, loss, every parameter gradient and a
//! 3-step Adam trajectory), and against the CPU reference on random shapes — the same checks
//! `heft check` runs. Tolerances are stated per comparison in src/check.rs.

mod common;

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
    let failed: Vec<_> = rows.iter().filter(|r| !r.pass).collect();
    assert!(failed.is_empty(), "{} of {} comparisons failed, first: {:?}", failed.len(), rows.len(), failed[0]);
    assert!(rows.len() > 60, "only {} comparisons", rows.len());
}

#[test]
fn random_shapes_match_the_cpu_reference() {
    let rows = heft::check::random(&common::gpu(), 3, 7).unwrap();
    let failed: Vec<_> = rows.iter().filter(|r| !r.pass).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn a_diverging_model_names_its_first_layer() {
    // corrupt one conv weight of the AlexNet student dump: the check must fail and its first
    // failing gradient row must be a layer's gradient, not pass silently
    let (_, bytes) = heft::check::GOLDEN.iter().find(|(n, _)| *n == "alexnet_student").unwrap();
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, md) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect();
    for (n, _, data) in tensors.iter_mut() {
        if n == "weights/classifier.4.weight" {
            for b in data.chunks_exact_mut(4) {
                let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 1.5;
                b.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap()))
        .collect();
    let path = std::env::temp_dir().join(format!("heft-diverge-{}.safetensors", std::process::id()));
    safetensors::serialize_to_file(views, md.metadata().clone(), &path).unwrap();
    let g = heft::check::Golden::open(&path).unwrap();
    let rows = heft::check::model(&common::gpu(), "corrupted", &g).unwrap();
    std::fs::remove_file(&path).unwrap();
    let first = heft::check::first_failure(&rows).expect("a corrupted model must fail");
    assert_eq!(first.case, "logits", "{first:?}");
}
