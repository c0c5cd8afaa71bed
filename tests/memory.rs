//! GPU memory stays flat: over a 30-epoch run the high-water mark that metrics.jsonl reports
//! stops growing after epoch 2, the pool frees what it returns past its cap, and a request
//! beyond the device is an error that says what to lower. Each test opens its own GPU, so the
//! counters see only its own work.

use heft::data::{image::Normalize, synth, Dataset};
use heft::nn::model::{Arch, Model, ModelConfig};
use heft::recipe::Recipe;
use heft::train::{self, Data, Phase, RunFiles};
use heft::{AdapterChoice, DType, Gpu, Tensor};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("heft-memory-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn open(pool_bytes: Option<u64>) -> Gpu {
    Gpu::new(&AdapterChoice { pool_bytes, ..Default::default() }).expect("tests need a GPU adapter (lavapipe is enough)")
}

#[test]
fn the_high_water_mark_is_flat_after_epoch_2_of_30() {
    let dir = tmp("flat");
    // 8 training images in batches of 4, 2 validation and 2 test images
    synth::generate(&dir.join("data"), 2, 64, (4, 1, 1), 7, 1.0).unwrap();
    let set = |s: &str| Dataset::folder(&dir.join("data").join(s)).unwrap();
    let data = Data { train: set("train"), val: set("val"), test: set("test"), norm: Normalize::default(), strict: true };
    let cfg = ModelConfig { width: 0.125, hidden: 32, ..ModelConfig::new(Arch::Alexnet, data.train.classes.clone(), 1, 64) };
    let mut model = Model::teacher(&open(None), cfg, 3).unwrap();
    let recipe = Recipe { epochs: 30, batch: 4, progress: false, augment: false, ..Recipe::default() };
    train::train(&mut model, None, &data, &recipe, &RunFiles::new(&dir, Phase::Teacher)).unwrap();
    let text = std::fs::read_to_string(dir.join("teacher_metrics.jsonl")).unwrap();
    let epochs: Vec<(u64, u64)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["epoch"].is_u64())
        .map(|v| (v["gpu_bytes"].as_u64().unwrap(), v["gpu_high_water_bytes"].as_u64().unwrap()))
        .collect();
    assert_eq!(epochs.len(), 30, "{text}");
    // during Adam's update the parameters, their gradients and both moments are all held
    let params: u64 = model.params().iter().map(|p| p.value.bytes()).sum();
    let third = epochs[2].1;
    assert!(third >= 4 * params, "high-water mark {third} bytes after epoch 3 is below 4 × the {params} bytes of parameters");
    for (e, &(bytes, high)) in epochs.iter().enumerate() {
        assert!(bytes <= high, "epoch {}: {bytes} bytes held above the high-water mark {high}", e + 1);
        if e >= 2 {
            assert!(high.abs_diff(third) * 100 <= third, "epoch {}: high-water mark {high} bytes, {third} after epoch 3: {epochs:?}", e + 1);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn buffers_returned_past_the_pool_cap_are_freed() {
    const KIB512: u64 = 512 << 10;
    let gpu = open(Some(2 * KIB512));
    assert_eq!(gpu.memory().allocated, 0, "a fresh GPU holds nothing through its pool");
    let take = |n: usize| -> Vec<Tensor> { (0..n).map(|_| Tensor::empty(&gpu, &[128 << 10], DType::F32).unwrap()).collect() };
    let three = take(3);
    assert_eq!((gpu.memory().allocated, gpu.memory().idle), (3 * KIB512, 0));
    drop(three);
    // two fit under the 1 MiB cap and stay idle; the third is freed
    let m = gpu.memory();
    assert_eq!((m.allocated, m.idle, m.high_water), (2 * KIB512, 2 * KIB512, 3 * KIB512));
    // the idle ones are taken again before anything new is allocated
    let two = take(2);
    assert_eq!((gpu.memory().allocated, gpu.memory().idle), (2 * KIB512, 0));
    drop(two);
}

/// A tensor above the device's largest buffer is refused before anything is allocated, with
/// the sizes and what to lower. (A real allocation failure is not provoked: lavapipe's buffers
/// are at most 2 GiB and are allocated lazily, so it would take tens of GiB of host memory.)
#[test]
fn a_tensor_above_the_largest_buffer_is_refused_with_what_to_lower() {
    let gpu = open(None);
    let max = gpu.limits().max_buffer_size;
    let e = Tensor::empty(&gpu, &[(max / 4 + 1) as usize], DType::F32).unwrap_err().to_string();
    assert!(e.contains(&format!("the device allows {max}")) && e.contains("smaller batch"), "{e}");
    assert_eq!(gpu.memory().allocated, 0, "a refused tensor allocated memory");
}
