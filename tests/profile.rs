//! Kernel profiling (`heft profile`): every dispatch is timed and attributed to its kernel. The
//! call counts are checked against what the models' structure implies (counted by hand from
//! torchvision's AlexNet and the student conversion), not against the profiler itself.
//!
//! Skips: profiling needs timestamp queries. Lavapipe (CI) has them, so these tests always run
//! there and fail (`common::runs_here`) if it ever loses them; on an adapter without them they
//! print a `SKIPPED` line with the reason (libtest has no runtime skip, so they show as ok).

mod common;

use heft::gpu::KernelTime;
use heft::nn::model::{Arch, ModelConfig, StudentConfig};
use heft::ops::{matmul, relu};
use heft::{AdapterChoice, Gpu, Tensor};

/// A GPU opened for profiling, or None (test skipped, said so) on an adapter without
/// timestamp queries.
fn profiling_gpu(test: &str) -> Option<Gpu> {
    match Gpu::new(&AdapterChoice { profile: true, ..Default::default() }) {
        Ok(g) => Some(g),
        Err(e) if e.to_string().contains("TIMESTAMP_QUERY") => {
            common::runs_here(test, false, &e.to_string());
            None
        }
        Err(e) => panic!("tests need a GPU adapter (lavapipe is enough): {e}"),
    }
}

/// Calls of `kernel`; "GEMM" counts every GEMM variant's kernel (`matmul*::main`: which one runs
/// depends on the adapter).
fn calls(rows: &[KernelTime], kernel: &str) -> u64 {
    rows.iter().filter(|r| r.kernel == kernel || (kernel == "GEMM" && is_gemm(&r.kernel))).map(|r| r.calls).sum()
}

fn is_gemm(kernel: &str) -> bool {
    kernel.starts_with("matmul") && kernel.ends_with("::main")
}

#[test]
fn every_dispatch_is_timed_and_counted() {
    let Some(gpu) = profiling_gpu("every_dispatch_is_timed_and_counted") else { return };
    // K = 8 needs no padding, so the product is one GEMM dispatch and nothing else
    let a = Tensor::from_f32(&gpu, &[1.0; 32], &[4, 8]).unwrap();
    let b = Tensor::from_f32(&gpu, &[1.0; 40], &[5, 8]).unwrap();
    gpu.reset_kernel_times().unwrap();
    matmul::matmul_nt(&a, &b).unwrap();
    let rows = gpu.kernel_times().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(is_gemm(&rows[0].kernel) && rows[0].calls == 1, "{rows:?}");
    assert!(rows[0].ms > 0.0 && rows[0].ms.is_finite(), "{rows:?}");
    // the trace holds that one dispatch: a 4x5 output is one workgroup tile of any variant
    let trace = gpu.trace_events().unwrap();
    assert_eq!(trace.len(), 1, "{trace:?}");
    assert_eq!((trace[0].kernel.as_str(), trace[0].workgroups), (rows[0].kernel.as_str(), [1, 1, 1]));
    assert!(trace[0].end_ns >= trace[0].start_ns);
    let chrome = heft::gpu::chrome_trace(&trace, "test adapter");
    let events = chrome["traceEvents"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["ph"] == "X").count(), 1);
    assert_eq!(events.iter().find(|e| e["ph"] == "X").unwrap()["name"], rows[0].kernel.as_str());
    // more dispatches than one submit can time (2048) are still all counted
    gpu.reset_kernel_times().unwrap();
    for _ in 0..2100 {
        relu::forward(&a).unwrap();
    }
    let rows = gpu.kernel_times().unwrap();
    assert_eq!(calls(&rows, "relu::forward"), 2100);
    gpu.reset_kernel_times().unwrap();
    assert!(gpu.kernel_times().unwrap().is_empty());
    // a GPU not opened for profiling says so
    let plain = Gpu::new(&AdapterChoice::default()).unwrap();
    assert!(plain.kernel_times().unwrap_err().to_string().contains("profiling"));
}

#[test]
fn training_steps_dispatch_what_the_model_structure_implies() {
    let Some(gpu) = profiling_gpu("training_steps_dispatch_what_the_model_structure_implies") else { return };
    let cfg = || ModelConfig { width: 0.25, hidden: 64, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    // AlexNet: 5 convs, 3 linears, 7 ReLUs, 3 max-pools, 2 dropouts; 16 parameter tensors,
    // packed side by side (`Trainer::adopt`): one Adam dispatch for them all
    let t = heft::profile::run(&gpu, cfg(), None, 2, 2, 7).unwrap();
    for (kernel, n) in [("relu::forward", 7), ("relu::backward", 7), ("maxpool::forward", 3), ("maxpool::backward", 3), ("optim::adam", 1), ("dropout::main", 4), ("cross_entropy::rows", 1)] {
        assert_eq!(calls(&t.kernels, kernel), n, "{kernel}: {:?}", t.kernels);
    }
    assert_eq!(calls(&t.kernels, "quad::forward"), 0);
    // convolutions run as im2col + one GEMM: forward 5 im2col + 5 GEMMs, linears 3 GEMMs;
    // backward: every conv re-lowers its input (5 im2col) for dW, every layer has a dW GEMM
    // (5 + 3), every layer but the first has a dX GEMM (4 + 3) and each of those 4 convs folds
    // its column gradient back with col2im
    for (kernel, n) in [("GEMM", 5 + 3 + 5 + 3 + 4 + 3), ("im2col::main", 5 + 5), ("col2im::main", 4)] {
        assert_eq!(calls(&t.kernels, kernel), n, "{kernel}: {:?}", t.kernels);
    }
    // a step reads one value back (the loss) and records every kernel into one submit (fewer
    // than 2048 passes, the most one profiled submit can time); the trace holds each dispatch
    // of the 2 profiled steps: 2 x the hand count of GEMMs above
    assert_eq!((t.submits, t.readbacks), (1.0, 1.0));
    // the recorder's dispatch count agrees with the profiler's timed calls
    assert_eq!(t.dispatches, t.kernels.iter().map(|k| k.calls).sum::<u64>() as f64);
    assert_eq!(t.trace.iter().filter(|e| is_gemm(&e.kernel)).count(), 2 * 23);
    assert!(t.gpu_ms > 0.0);
    // the student's distillation step: the teacher's inference (3 max-pools, no backward; its 5
    // ReLUs after a convolution in the convolution's pass, the 2 after linears on their own),
    // the student's 7 polynomials (each backward in the pass of its coefficient sums: no
    // `quad::backward`), 3 avg-pools and 3 batch norms (after the pools), KD; Adam over 16 + 6
    // batch-norm parameter tensors in one run and the 7 coefficient tensors (their own rate) in
    // another; no gradient copied
    let s = heft::profile::run(&gpu, cfg(), Some(StudentConfig::default()), 2, 2, 7).unwrap();
    for (kernel, n) in [
        ("relu::forward", 2),
        ("relu::backward", 0),
        ("maxpool::forward", 3),
        ("maxpool::backward", 0),
        ("quad::forward", 7),
        ("quad::backward", 0),
        ("avgpool::forward", 3),
        ("avgpool::backward", 3),
        ("batchnorm::apply", 3),
        ("batchnorm::backward", 3),
        ("distill::rows", 1),
        ("optim::adam", 2),
        // the teacher's forward GEMMs and im2col (8, 5) on top of the student's step (23, 10)
        ("GEMM", 8 + 23),
        ("im2col::main", 5 + 10),
        ("col2im::main", 4),
    ] {
        assert_eq!(calls(&s.kernels, kernel), n, "{kernel}: {:?}", s.kernels);
    }
    assert_eq!((t.copies, s.copies), (0.0, 0.0));
    let table = heft::profile::format(&s);
    assert!(table.contains("quad::forward") && table.contains("ms/step"), "{table}");
}
