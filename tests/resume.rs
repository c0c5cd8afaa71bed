//! Resumable training through the command line. A run killed (SIGKILL) in the epoch after its
//! first epoch state, then run again, ends with the checkpoint of an uninterrupted run of the
//! same command bit for bit and with the same per-epoch records (timings aside): a teacher
//! (augmentation, dropout) and a student distilled from it (polynomial coefficients with their
//! own Adam rate, batch norm, divergence-guard rollbacks to a snapshot taken before the kill);
//! a damaged copy of the state is refused. A finished run is
//! skipped and reports its result again; a run of other settings in its folder is refused,
//! naming what differs; `--fresh` starts over.

mod common;

use common::{assert_clean_error, heft, heft_command, tmp};
use heft::report::log::read_jsonl;
use safetensors::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// 16 training images in batches of 4: 4 steps an epoch; --no-tune: GEMM timings could pick
// other kernels in the two runs
const MODEL: [&str; 9] = ["--input", "64", "--width", "0.125", "--hidden", "32", "--batch", "4", "--no-tune"];
const EPOCHS: usize = 5;

/// A synthetic dataset and a teacher trained on it without interruption (in `plain`).
struct Fixture {
    dir: PathBuf,
    /// stdout of the uninterrupted teacher run.
    report: String,
}

impl Fixture {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn teacher_args(f: &Fixture, out: &str) -> Vec<String> {
    let args = ["train-teacher", "--quiet", "--epochs", &EPOCHS.to_string(), "--data", &f.path("ds"), "--out", out].map(String::from);
    [&args[..], &MODEL.map(String::from)].concat()
}

/// A student whose activation bound (7.5) its inputs pass in the first epoch but not always
/// after: the divergence guard rolls back to its snapshot of the first epoch's start, which the
/// epoch state has to carry, and halves the learning rates; it never stops.
fn student_args(f: &Fixture, out: &str) -> Vec<String> {
    let teacher = f.path("plain/teacher.safetensors");
    let guard = ["--max-range", "7.5", "--continue-with-nans"];
    [&["train-student", "--quiet", "--epochs", "4", "--batch", "4", "--no-tune", "--teacher", &teacher, "--data", &f.path("ds"), "--out", out][..], &guard].concat().into_iter().map(String::from).collect()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tmp("resume");
        let ds = dir.join("ds").display().to_string();
        let (code, _, err) = heft(&["synth", "--out", &ds, "--size", "32", "--train", "8", "--val", "4", "--test", "4", "--strength", "3"]);
        assert_eq!(code, 0, "{err}");
        let mut f = Fixture { dir, report: String::new() };
        let (code, out, err) = run(&teacher_args(&f, &f.path("plain")));
        assert_eq!(code, 0, "{err}");
        f.report = out;
        f
    })
}

fn run(args: &[String]) -> (i32, String, String) {
    heft(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Seconds of one epoch of an uninterrupted run (its second), from its metrics log.
fn epoch_seconds(log: &Path) -> f64 {
    let s: Vec<f64> = read_jsonl(log).unwrap().iter().filter_map(|r| r["seconds"].as_f64()).collect();
    s[1] - s[0]
}

/// Start `args` (a run into `out` of `phase`), kill it (SIGKILL) half an epoch after its first
/// epoch state appears, then run it again to the end. Returns the epoch it resumed after.
fn kill_then_resume(args: &[String], out: &Path, phase: &str, epoch: f64) -> usize {
    let state = out.join(format!("{phase}_state.safetensors"));
    let mut child = heft_command(&args.iter().map(String::as_str).collect::<Vec<_>>()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while !state.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{phase}: the run ended ({status}) before writing an epoch state");
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "{phase}: no epoch state after 5 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_secs_f64(epoch / 2.0));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join(format!("{phase}_done.json")).exists(), "{phase}: the run finished before it was killed; give it more epochs");
    assert_damaged_state_is_refused(args, out, &state);
    let (code, _, err) = run(args);
    assert_eq!(code, 0, "{err}");
    let line = err.lines().find(|l| l.contains("resuming after epoch")).unwrap_or_else(|| panic!("{phase}: no resume message: {err}"));
    println!("{line}");
    line.split("after epoch ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

/// A copy of the killed run's state with one byte of its tensors flipped, in another folder:
/// the same command there stops with a clear error instead of resuming from it.
fn assert_damaged_state_is_refused(args: &[String], out: &Path, state: &Path) {
    let damaged = out.with_extension("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    let mut bytes = std::fs::read(state).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(damaged.join(state.file_name().unwrap()), bytes).unwrap();
    let (o, d) = (out.display().to_string(), damaged.display().to_string());
    let args: Vec<&str> = args.iter().map(|a| if *a == o { d.as_str() } else { a.as_str() }).collect();
    assert_clean_error(&args, "checksum does not match");
    std::fs::remove_dir_all(&damaged).unwrap();
}

/// Both checkpoints hold the same tensors, bit for bit, and are the same file.
fn assert_same_weights(a: &Path, b: &Path) {
    let (fa, fb) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    let (ta, tb) = (SafeTensors::deserialize(&fa).unwrap(), SafeTensors::deserialize(&fb).unwrap());
    let mut names = ta.names();
    names.sort();
    let mut names_b = tb.names();
    names_b.sort();
    assert_eq!(names, names_b);
    for n in names {
        let (x, y) = (ta.tensor(n).unwrap(), tb.tensor(n).unwrap());
        assert_eq!(x.shape(), y.shape(), "{n}");
        assert!(x.data() == y.data(), "{n} differs between the uninterrupted and the resumed run");
    }
    assert!(fa == fb, "{} and {} differ", a.display(), b.display());
}

/// The records of a metrics log without the fields that time the process (throughput, seconds,
/// GPU bytes held by this process's pool).
fn records(log: &Path) -> Vec<Value> {
    let mut v = read_jsonl(log).unwrap();
    for r in &mut v {
        for k in ["images_per_s", "seconds", "gpu_bytes", "gpu_high_water_bytes"] {
            r.as_object_mut().unwrap().remove(k);
        }
    }
    v
}

fn assert_same_run(plain: &Path, resumed: &Path, phase: &str, epochs: usize) {
    assert_same_weights(&plain.join(format!("{phase}.safetensors")), &resumed.join(format!("{phase}.safetensors")));
    let (a, b) = (records(&plain.join(format!("{phase}_metrics.jsonl"))), records(&resumed.join(format!("{phase}_metrics.jsonl"))));
    assert_eq!(a.iter().filter(|r| r["epoch"].is_u64() && r["event"].is_null()).count(), epochs, "one line per epoch: {a:?}");
    assert!(a.last().unwrap()["test"].is_object(), "the log ends with the test line");
    assert_eq!(a, b, "{phase}: the per-epoch records differ");
    assert!(!resumed.join(format!("{phase}_state.safetensors")).exists(), "a finished run keeps no epoch state");
}

#[test]
fn a_killed_teacher_run_resumes_to_the_same_checkpoint_and_records() {
    let f = fixture();
    let out = f.dir.join("teacher-killed");
    let after = kill_then_resume(&teacher_args(f, &out.display().to_string()), &out, "teacher", epoch_seconds(&f.dir.join("plain/teacher_metrics.jsonl")));
    assert!((1..EPOCHS).contains(&after), "resumed after epoch {after} of {EPOCHS}");
    assert_same_run(&f.dir.join("plain"), &out, "teacher", EPOCHS);
}

#[test]
fn a_killed_student_run_resumes_to_the_same_checkpoint_and_records() {
    let f = fixture();
    let plain = f.dir.join("student-plain");
    let (code, _, err) = run(&student_args(f, &plain.display().to_string()));
    assert_eq!(code, 0, "{err}");
    let log = read_jsonl(&plain.join("student_metrics.jsonl")).unwrap();
    let rolled_back = |r: &Value| r["event"] == "rollback" && r["epoch"].as_u64() >= Some(2);
    assert!(log.iter().any(rolled_back), "the student should roll back after its first epoch (retune --max-range): {log:?}");
    let out = f.dir.join("student-killed");
    let after = kill_then_resume(&student_args(f, &out.display().to_string()), &out, "student", epoch_seconds(&plain.join("student_metrics.jsonl")));
    assert!((1..4).contains(&after), "resumed after epoch {after} of 4");
    assert_same_run(&plain, &out, "student", 4);
}

#[test]
fn a_finished_run_is_skipped_and_other_settings_are_refused() {
    let f = fixture();
    // a copy of the finished run, so that the other tests keep theirs
    let out = f.dir.join("finished");
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(f.dir.join("plain")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
    }
    let o = out.display().to_string();
    let files = |name: &str| std::fs::read(out.join(name)).unwrap();
    let before = (files("teacher.safetensors"), files("teacher_metrics.jsonl"), files("teacher_done.json"));
    let (code, report, err) = run(&teacher_args(f, &o));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("finished") && err.contains("skipped"), "{err}");
    // the stored result, reported as the run reported it (its seconds included)
    assert_eq!(report, f.report.replace(&f.path("plain"), &o));
    assert_eq!(before, (files("teacher.safetensors"), files("teacher_metrics.jsonl"), files("teacher_done.json")), "a skipped run changes nothing");
    // other settings: refused, naming the difference, nothing changed
    let mut other = teacher_args(f, &o);
    other.extend(["--lr".into(), "0.002".into()]);
    assert_clean_error(&other.iter().map(String::as_str).collect::<Vec<_>>(), "differ in recipe.lr");
    assert_eq!(before.0, files("teacher.safetensors"));
    // --fresh trains them
    other.push("--fresh".into());
    let (code, _, err) = run(&other);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("skipped") && !err.contains("resuming"), "{err}");
    assert!(before.0 != files("teacher.safetensors"), "--fresh trained a new checkpoint");
    std::fs::remove_dir_all(&out).unwrap();
}
