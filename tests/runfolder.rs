//! A run folder meets the file system. A second heft training into a folder another process
//! holds (`heft::fsx::RunLock`) is refused with the folder and the holder's pid, and leaves the
//! folder as it was, `--fresh` included; a lock file left by a dead process holds nothing. A
//! disk that fills during a training run (a tiny tmpfs as its folder) stops it with an error
//! naming the file, keeps its last epoch state whole, and the same command goes on from it once
//! there is room.

mod common;

use common::{heft, heft_command, tmp, Tmpfs};
use heft::fsx::RunLock;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A tiny synthetic dataset, made once per test binary.
fn dataset() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let ds = tmp("runfolder-ds");
        let (code, _, err) = heft(&["synth", "--out", &ds.display().to_string(), "--size", "32", "--train", "8", "--val", "4", "--test", "4", "--strength", "3"]);
        assert_eq!(code, 0, "{err}");
        ds
    })
}

/// `train-teacher` of a tiny AlexNet for `epochs` into `out`, with `extra` arguments.
fn teacher(out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let (data, out, epochs) = (dataset().display().to_string(), out.display().to_string(), epochs.to_string());
    let args = ["train-teacher", "--quiet", "--epochs", &epochs, "--data", &data, "--out", &out, "--input", "64", "--width", "0.125", "--hidden", "32", "--batch", "4", "--no-tune"];
    args.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run(args: &[String]) -> (i32, String, String) {
    heft(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every file in `dir` with its bytes, by name.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())).collect();
    v.sort();
    v
}

fn names(dir: &Path) -> Vec<String> {
    contents(dir).into_iter().map(|(n, _)| n).collect()
}

#[test]
fn a_second_heft_on_a_locked_run_folder_is_refused_and_changes_nothing() {
    let dir = tmp("locked");
    // a run in progress: its epoch state, checkpoint and log (their contents are never read)
    for f in ["teacher_state.safetensors", "teacher.safetensors", "teacher.json", "teacher_metrics.jsonl"] {
        std::fs::write(dir.join(f), format!("{f} of the run holding the folder")).unwrap();
    }
    let lock = RunLock::acquire(&dir).unwrap();
    let before = contents(&dir);
    assert!(before.iter().any(|(n, pid)| n == ".heft.lock" && *pid == format!("{}\n", std::process::id()).into_bytes()), "{:?}", names(&dir));
    // in this process too: a lock is per open file, not per process
    let e = RunLock::acquire(&dir).unwrap_err().to_string();
    let want = format!("{} is in use by another heft process (pid {})", dir.display(), std::process::id());
    assert!(e.contains(&want), "{e}");
    for extra in [&[][..], &["--fresh"]] {
        let (code, _, err) = run(&teacher(&dir, 2, extra));
        assert_eq!(code, 1, "{extra:?}: {err}");
        assert!(err.contains(&format!("error: {want}")) && err.contains("choose another --out"), "{extra:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{extra:?}: {err}");
        assert_eq!(contents(&dir), before, "{extra:?}");
    }
    // let go: the lock file goes with it, the run's files stay
    drop(lock);
    assert_eq!(names(&dir), ["teacher.json", "teacher.safetensors", "teacher_metrics.jsonl", "teacher_state.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_lock_file_left_by_a_dead_process_holds_nothing() {
    let dir = tmp("stale");
    // what a killed heft leaves: the file with its pid, no lock (the OS dropped it)
    std::fs::write(dir.join(".heft.lock"), "4194304\n").unwrap();
    let lock = RunLock::acquire(&dir).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join(".heft.lock")).unwrap(), format!("{}\n", std::process::id()));
    drop(lock);
    assert!(names(&dir).is_empty());
    // a folder the lock made, left empty, goes too
    let made = dir.join("new");
    drop(RunLock::acquire(&made).unwrap());
    assert!(!made.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_stops_a_run_and_keeps_its_epoch_state() {
    let Some(fs) = Tmpfs::mount("runfolder-full", 32 << 20) else { return };
    let out = fs.dir.join("run");
    let state = out.join("teacher_state.safetensors");
    let args = teacher(&out, 3, &[]);
    let mut child = heft_command(&args.iter().map(String::as_str).collect::<Vec<_>>()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // fill the disk as soon as the first epoch state is there: a later write must fail
    let t0 = Instant::now();
    while !state.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first epoch state");
        assert!(t0.elapsed() < Duration::from_secs(300), "no epoch state after 300 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    fs.fill();
    let kept = std::fs::read(&state).unwrap();
    let end = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&end.stderr);
    assert_eq!(end.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("error: {}/", out.display())) && err.contains("out of disk space (No space left on device"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    assert!(std::fs::read(&state).unwrap() == kept, "the epoch state changed");
    let left: Vec<String> = names(&out).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(left.is_empty(), "temporary or lock files left: {left:?}");
    // room again: the same command goes on after the kept epoch
    fs.free();
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("teacher: resuming after epoch"), "{err}");
}
