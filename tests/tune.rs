//! `heft tune`: the tunable ops of a training step (GEMM shapes, convolution passes), the
//! tuning cache on disk, and how tuned choices are looked up (exact shape, or the same layer at
//! another batch size).

mod common;
use common::gpu;
use heft::gpu::tuning::Tuning;
use heft::nn::model::{Arch, ModelConfig};
use heft::ops::conv2d::{self, Form};
use heft::ops::matmul::{self, VARIANTS};
use heft::tune::{self, Site};

fn gemm(shape: [usize; 3]) -> Site {
    Site { op: "matmul".into(), shape: shape.to_vec() }
}

/// The tests share one GPU and its tuning table: one at a time, so that a step recording its
/// ops does not see another test's lookups, nor a lookup another test's fresh choices.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("heft-tune-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn step_sites_include_the_first_convolution_counted_by_hand() {
    let _serial = serial();
    // AlexNet x0.25 on 1x64x64, batch 2: conv1 has 16 filters of 1x11x11 (K = 121, padded to
    // 124), stride 4, padding 5 -> 16x16 outputs per image, so its forward GEMM is
    // [16 filters] x [2 * 256 positions] x [124].
    let cfg = ModelConfig { width: 0.25, hidden: 64, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    let sites = tune::step_sites(&gpu(), cfg, None, 2).unwrap();
    assert!(sites.contains(&gemm([16, 512, 124])), "{sites:?}");
    let gemms = sites.iter().filter(|s| s.op == "matmul").count();
    // forward, input gradient and weight gradient of 5 convs and 3 linears, less conv1's input
    // gradient (its input needs none), some of which share a shape
    assert!((10..=23).contains(&gemms), "{gemms} GEMM shapes: {sites:?}");
    // each of the 5 convolutions once per pass; conv1's backward without the input gradient
    let conv1 = |op: &str, dx| Site { op: op.into(), shape: vec![2, 1, 64, 64, 16, 11, 11, 4, 5, dx] };
    assert!(sites.contains(&conv1("conv2d_fwd", 0)) && sites.contains(&conv1("conv2d_bwd", 0)), "{sites:?}");
    assert_eq!(sites.iter().filter(|s| s.op == "conv2d_fwd").count(), 5);
    assert_eq!(sites.iter().filter(|s| s.op == "conv2d_bwd").count(), 5);
}

#[test]
fn the_cache_round_trips_and_its_choices_are_used() {
    let _serial = serial();
    let gpu = gpu();
    let dir = tmp("roundtrip");
    let shape = gemm([24, 40, 36]);
    let (path, timed) = tune::ensure(&gpu, &dir, "step a", std::slice::from_ref(&shape), 1, |_, _| {}, |_| {}).unwrap();
    assert_eq!(timed, 1);
    let file = tune::load(&path).unwrap().unwrap();
    assert_eq!(file.entries.len(), 1);
    assert_eq!((file.steps.len(), file.steps[0].step.as_str(), file.steps[0].sites.clone()), (1, "step a", vec![shape.clone()]));
    let e = &file.entries[0];
    let runnable = VARIANTS.iter().filter(|v| v.available(&gpu)).count();
    assert_eq!(e.ms.len(), runnable, "every variant that runs here is timed");
    assert!(e.ms.windows(2).all(|w| w[0].1 <= w[1].1) && e.choice == e.ms[0].0, "the fastest is chosen: {e:?}");
    let chosen = matmul::variant_index(&e.choice).unwrap();
    assert_eq!(matmul::choose(&gpu, 24, 40, 36), (chosen, true));
    assert_eq!(matmul::choose(&gpu, 24, 48, 36), (chosen, true), "same layer, another batch");
    assert_eq!(matmul::choose(&gpu, 7, 9, 12), (matmul::heuristic(&gpu, 7, 9), false), "unrelated shape");
    // a second run finds the shape cached and times nothing
    let (_, timed) = tune::ensure(&gpu, &dir, "step a", &[shape], 1, |_, _| panic!("nothing to tune"), |_| {}).unwrap();
    assert_eq!(timed, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_convolution_pass_is_tuned_between_its_forms_and_the_choice_is_used() {
    let _serial = serial();
    let gpu = gpu();
    let dir = tmp("conv");
    let x = heft::Tensor::from_f32(&gpu, &[0.5; 2 * 3 * 9 * 9], &[2, 3, 9, 9]).unwrap();
    let w = heft::Tensor::from_f32(&gpu, &[0.1; 4 * 3 * 3 * 3], &[4, 3, 3, 3]).unwrap();
    let g = conv2d::geometry(&x, &w, 1, 1).unwrap();
    let site = Site { op: "conv2d_fwd".into(), shape: conv2d::key(&g, 4, false) };
    let (path, _) = tune::ensure(&gpu, &dir, "step c", std::slice::from_ref(&site), 1, |_, _| {}, |_| {}).unwrap();
    let e = tune::load(&path).unwrap().unwrap().entries.into_iter().find(|e| e.site == site).unwrap();
    let names: Vec<&str> = e.ms.iter().map(|m| m.0.as_str()).collect();
    assert!(names.contains(&"unfold") && names.contains(&"direct"), "both forms timed: {e:?}");
    let form = conv2d::FORMS.iter().find(|f| f.0 == e.choice).unwrap().1;
    assert_eq!(conv2d::choose(&gpu, "conv2d_fwd", &g, 4, false), form);
    assert_eq!(tune::chosen(&gpu, &site), (conv2d::FORMS.iter().find(|f| f.1 == form).unwrap().0, true));
    // the backward pass of the same layer is not tuned: the static choice
    assert_eq!(conv2d::choose(&gpu, "conv2d_bwd", &g, 4, true), conv2d::heuristic());
    assert_eq!(conv2d::heuristic(), Form::Unfold);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_cache_is_refused_with_what_to_do() {
    let _serial = serial();
    let dir = tmp("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tune.json");
    std::fs::write(&path, "{ not json").unwrap();
    let e = tune::load(&path).unwrap_err().to_string();
    assert!(e.contains("tune.json") && e.contains("delete it"), "{e}");
    assert!(tune::load(&dir.join("absent.json")).unwrap().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lookups_fall_back_to_the_nearest_shape_that_differs_in_one_size() {
    let _serial = serial();
    let mut t = Tuning::default();
    t.set("matmul", vec![64, 1000, 128], 1);
    t.set("matmul", vec![64, 4000, 128], 2);
    t.set("matmul", vec![32, 1000, 64], 3);
    assert_eq!(t.lookup("matmul", vec![64, 1000, 128]), Some(1));
    assert_eq!(t.lookup("matmul", vec![64, 1200, 128]), Some(1), "closer to 1000 than to 4000");
    assert_eq!(t.lookup("matmul", vec![64, 3000, 128]), Some(2));
    assert_eq!(t.lookup("matmul", vec![64, 1000, 256]), Some(1), "only K differs");
    assert_eq!(t.lookup("matmul", vec![48, 1200, 128]), None, "two sizes differ");
    assert_eq!(t.lookup("conv", vec![64, 1000, 128]), None, "another op");
    assert_eq!(t.lookup("matmul", vec![64, 1000]), None, "another number of sizes");
}

/// A training step the cache has seen gives its shapes from the cache (here a shape list no
/// real step has), without running the step again; an unseen one is run.
#[test]
fn a_cached_step_is_not_run_again_to_learn_its_shapes() {
    let _serial = serial();
    let gpu = gpu();
    let dir = tmp("steps");
    let cfg = ModelConfig { width: 0.25, hidden: 64, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    let key = tune::step_key(&cfg, None, 2);
    let planted = [gemm([8, 12, 16])];
    tune::ensure(&gpu, &dir, &key, &planted, 1, |_, _| {}, |_| {}).unwrap();
    // another dataset's class names, same count: the same step
    let renamed = ModelConfig { class_names: vec!["x".into(), "y".into()], ..cfg.clone() };
    assert_eq!(tune::cached_step_sites(&gpu, &dir, renamed, None, 2).unwrap(), planted.to_vec());
    let run = tune::cached_step_sites(&gpu, &dir, cfg, None, 4).unwrap();
    assert!(run.contains(&gemm([16, 1024, 124])), "batch 4 is another step, run to learn it: {run:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--recheck`: a cached choice that now times over 10 % slower than the static choice is tuned
/// again (here the slowest variant of a GEMM, planted as if a noisy minute had chosen it); the
/// static choice itself is left alone, untimed.
#[test]
fn a_cached_choice_that_loses_to_the_static_one_is_tuned_again() {
    let _serial = serial();
    let gpu = gpu();
    let dir = tmp("recheck");
    let (slow_site, fixed_site) = (gemm([64, 96, 32]), gemm([16, 40, 12]));
    let (path, _) = tune::ensure(&gpu, &dir, "step r", &[slow_site.clone(), fixed_site.clone()], 2, |_, _| {}, |_| {}).unwrap();
    let mut file = tune::load(&path).unwrap().unwrap();
    let fixed = matmul::VARIANTS[matmul::heuristic(&gpu, 16, 40)].name.to_string();
    let measured = file.entries.iter().find(|e| e.site == slow_site).unwrap().clone();
    let (slowest, slowest_ms) = measured.ms.last().unwrap().clone();
    let static_ms = measured.ms.iter().find(|m| m.0 == matmul::VARIANTS[matmul::heuristic(&gpu, 64, 96)].name).unwrap().1;
    for e in file.entries.iter_mut() {
        e.choice = if e.site == slow_site { slowest.clone() } else { fixed.clone() };
    }
    tune::save(&file, &path).unwrap();
    let checked = tune::recheck(&gpu, &dir, &[slow_site.clone(), fixed_site.clone(), gemm([8, 8, 8])], 2, |_, _| {}).unwrap();
    assert_eq!(checked.len(), 2, "an op without a cached choice is left to ensure: {checked:?}");
    let verdict = |s: &Site| checked.iter().find(|c| c.0 == *s).unwrap().1.clone();
    assert!(matches!(verdict(&fixed_site), tune::Recheck::Static), "{checked:?}");
    // only a clear loser is asserted on (timings vary): several times the static choice's time
    if slowest_ms > 2.0 * static_ms {
        let tune::Recheck::Replaced { old, entry, .. } = verdict(&slow_site) else { panic!("{slowest} ({slowest_ms:.3} ms against {static_ms:.3}) kept: {checked:?}") };
        assert_eq!(old, slowest);
        assert_ne!(entry.choice, slowest);
        let saved = tune::load(&path).unwrap().unwrap();
        assert_eq!(saved.entries.iter().find(|e| e.site == slow_site).unwrap().choice, entry.choice, "the new choice is saved");
        let (m, n, kp) = (64, 96, 32);
        assert_eq!(matmul::VARIANTS[matmul::choose(&gpu, m, n, kp).0].name, entry.choice, "and used");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
