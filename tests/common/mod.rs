//! Shared test helpers: one GPU per test binary, a seeded RNG, tolerance checks
//! `|gpu - ref| <= atol + rtol*|ref|` that report the worst error, and running the heft binary.
#![allow(dead_code)]

use heft::{AdapterChoice, Gpu, Tensor};
use std::sync::OnceLock;

pub fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| match Gpu::new(&AdapterChoice::default()) {
        Ok(g) => g,
        Err(e) => panic!("tests need a GPU adapter (lavapipe is enough): {e}"),
    })
    .clone()
}

/// The adapter CI runs the tests on: Mesa's lavapipe, named `llvmpipe (...)`.
pub fn is_ci_adapter(gpu: &Gpu) -> bool {
    gpu.info().name.starts_with("llvmpipe")
}

/// Whether a test whose requirement is `met` can run on this adapter. libtest has no runtime
/// skip, so where it cannot, this prints `SKIPPED <test>: <reason>` (the test then shows as ok,
/// with that line in its output) — except on the CI adapter, where it fails instead: lavapipe
/// meets every requirement, and CI must never count a test it did not run as passed.
pub fn runs_here(test: &str, met: bool, reason: &str) -> bool {
    if met {
        return true;
    }
    assert!(!is_ci_adapter(&gpu()), "{test}: the CI adapter {} no longer meets this test's requirement: {reason}", gpu().describe());
    println!("SKIPPED {test}: {reason}");
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// Seeded test data on top of heft's SplitMix64.
pub struct Rng(heft::rng::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(heft::rng::Rng::new(seed))
    }
    /// Uniform in [-1, 1), rounded to f32 so GPU and CPU see the same value.
    pub fn uniform(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 as f64
    }
    pub fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.uniform()).collect()
    }
    pub fn below(&mut self, n: u32) -> u32 {
        self.0.below(n as usize) as u32
    }
}

pub fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

pub fn upload(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f32(&gpu(), &f32s(v), shape).expect("upload")
}

pub fn download(t: &Tensor) -> Vec<f64> {
    t.to_f32().expect("download").into_iter().map(|v| v as f64).collect()
}

/// Assert every element is within tolerance; returns the largest absolute error.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        assert!(err <= atol + rtol * w.abs(), "{what}[{i}]: got {g}, want {w} (err {err:e}, tol {atol:e} + {rtol:e}*|ref|)");
        worst = worst.max(err);
    }
    worst
}

/// Reductions and convolutions: sums of up to a few thousand f32 terms in another order than
/// the f64 reference, relative error about √terms·2⁻²⁴ ≈ 1e-5 (absolute near 0): 1e-5 + 1e-4·|ref|.
pub fn assert_close_red(what: &str, got: &[f64], want: &[f64]) -> f64 {
    assert_close(what, got, want, 1e-5, 1e-4)
}

/// Central finite difference of scalar `f` at `x`, for every coordinate.
pub fn numeric_grad(x: &[f64], eps: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = xp[i];
            xp[i] = orig + eps;
            let hi = f(&xp);
            xp[i] = orig - eps;
            let lo = f(&xp);
            xp[i] = orig;
            (hi - lo) / (2.0 * eps)
        })
        .collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The heft binary with `args`, ready to run or spawn.
pub fn heft_command(args: &[&str]) -> std::process::Command {
    // a GEMM tuning cache of the tests' own, never the user's
    let cache = std::env::temp_dir().join(format!("heft-cli-tune-{}", std::process::id()));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_heft"));
    cmd.args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).env("HEFT_CACHE_DIR", cache);
    cmd
}

/// Runs the heft binary: (exit code, stdout, stderr).
pub fn heft(args: &[&str]) -> (i32, String, String) {
    let out = heft_command(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The Python named by the environment variable `var` (else `python3`) when it can import
/// every module of `modules` (e.g. "torch, safetensors"); None otherwise, for a test to skip.
pub fn python_with(var: &str, modules: &str) -> Option<String> {
    let py = std::env::var(var).unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&py).args(["-c", &format!("import {modules}")]).output().is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

/// A fresh, empty folder under the system temp dir for one test.
pub fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("heft-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// heft fails with exit code 1 and a one-line `error: ...` containing `needle`, never a panic.
pub fn assert_clean_error(args: &[&str], needle: &str) {
    let (code, _, err) = heft(args);
    assert_eq!(code, 1, "{args:?}: {err}");
    assert!(err.contains("error: ") && err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{args:?} panicked: {err}");
}

/// A tmpfs of `bytes` mounted on a fresh folder, unmounted (and the folder removed) when dropped.
pub struct Tmpfs {
    pub dir: std::path::PathBuf,
}

impl Tmpfs {
    /// Mount one for `test` (root only, e.g. on CI). Where it cannot be mounted, this prints
    /// `SKIPPED <test>: <reason>` and returns None, for the test to return.
    pub fn mount(test: &str, bytes: u64) -> Option<Tmpfs> {
        let dir = tmp(test);
        let out = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "heft-test"]).arg(&dir).output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => format!("cannot run mount: {e}"),
        };
        let _ = std::fs::remove_dir(&dir);
        println!("SKIPPED {test}: cannot mount a tmpfs ({why}); run the test as root");
        eprintln!("SKIPPED {test}: cannot mount a tmpfs ({why}); run the test as root");
        None
    }

    /// Fill the file system: a file `filler` grows until a write fails with "no space".
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let chunk = vec![0u8; 64 << 10];
        let e = loop {
            if let Err(e) = f.write_all(&chunk) {
                break e;
            }
        };
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
        // the last partial chunk may leave a few bytes in a page: take them too
        while f.write(&[0]).is_ok_and(|n| n == 1) {}
    }

    /// Free what `fill` took.
    pub fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
