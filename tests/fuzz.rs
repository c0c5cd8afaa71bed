//! Bad input, fuzzed (issue #11): hostile files of every kind heft reads — images, COVIDx label
//! files, safetensors checkpoints with their JSON configs, `heft check --against` dumps — as
//! tables of hand-made cases (`CASES` in tests/fuzz/*.rs, quoted in RELIABILITY.md) and as seeded
//! random mutations of a valid file. Each case runs under `catch_unwind` and must give a one-line
//! error naming the file (mutations may also load), never a panic, and must leave no file behind.
//! Every case prints `fuzz <group> | <case> | <outcome>`; see them with `-- --nocapture`.
//! Mutations per group: 30, or `HEFT_FUZZ_CASES`; a longer run:
//! `HEFT_FUZZ_CASES=5000 cargo test --release --test fuzz -- --nocapture`.

mod common;
#[path = "fuzz/dumps.rs"]
mod dumps;
#[path = "fuzz/images.rs"]
mod images;
#[path = "fuzz/labels.rs"]
mod labels;
#[path = "fuzz/weights.rs"]
mod weights;

use heft::rng::{derive, Rng};
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// A hand-made bad input: its name, the file it is written as, its bytes (made from the group's
/// valid file) and a piece of the error it must give (None: it must load).
pub struct Case {
    pub name: &'static str,
    pub file: &'static str,
    pub bytes: fn(&[u8]) -> Vec<u8>,
    pub error: Option<&'static str>,
}

/// A reader under test: Ok, or heft's error for the file at the path.
pub type Read<'a> = &'a dyn Fn(&Path) -> heft::Result<()>;

/// A fresh folder for one group's files.
pub fn folder(group: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("heft-fuzz-{group}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// Writes `bytes` as `dir/file` (over a fixture of that name, restored afterwards), runs `read`
/// under `catch_unwind` and checks: no panic, an error is one line naming `file`, and the folder
/// holds the same names afterwards. Prints the case's line; returns the error, None if it loaded.
pub fn run(group: &str, case: &str, dir: &Path, file: &str, bytes: &[u8], read: Read) -> Option<String> {
    let path = dir.join(file);
    let fixture = std::fs::read(&path).ok();
    std::fs::write(&path, bytes).unwrap();
    let before = listing(dir);
    let outcome = catch_unwind(AssertUnwindSafe(|| read(&path)));
    let after = listing(dir);
    match &fixture {
        Some(b) => std::fs::write(&path, b).unwrap(),
        None => std::fs::remove_file(&path).unwrap(),
    }
    let err = match outcome {
        Err(_) => panic!("fuzz {group} | {case}: heft panicked on {}", path.display()),
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
    };
    assert_eq!(after, before, "fuzz {group} | {case}: files appeared or vanished in {}", dir.display());
    if let Some(e) = &err {
        assert!(e.contains(file) && !e.contains('\n'), "fuzz {group} | {case}: the error does not name {file} on one line: {e}");
    }
    println!("fuzz {group} | {case} | {}", err.as_deref().unwrap_or("loaded"));
    err
}

/// Runs every case of a table against the group's valid file.
pub fn run_table(group: &str, dir: &Path, valid: &[u8], cases: &[Case], read: Read) {
    for c in cases {
        match (run(group, c.name, dir, c.file, &(c.bytes)(valid), read), c.error) {
            (None, None) => {}
            (Some(e), Some(want)) => assert!(e.contains(want), "fuzz {group} | {}: wanted an error with {want:?}, got: {e}", c.name),
            (got, want) => panic!("fuzz {group} | {}: wanted {want:?}, got {got:?}", c.name),
        }
    }
}

/// How many seeded mutations each group runs: `HEFT_FUZZ_CASES`, else 30.
fn mutations() -> usize {
    std::env::var("HEFT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(30)
}

/// Runs seeded mutations of `valid`, written as `file`: any outcome but a panic, an error not
/// naming the file or a file left behind is a failure.
pub fn run_mutations(group: &str, dir: &Path, file: &str, valid: &[u8], read: Read) {
    for i in 0..mutations() {
        let mut rng = Rng::new(derive(&[0xF022, group.len() as u64, i as u64]));
        let (how, bytes) = mutate(&mut rng, valid);
        run(group, &format!("mutation {i}: {how}"), dir, file, &bytes, read);
    }
}

/// One random change: cut short, bits flipped, 8 bytes overwritten with an extreme value,
/// random bytes inserted, or a range removed. Half the positions fall in the first KiB, where
/// headers are.
fn mutate(rng: &mut Rng, valid: &[u8]) -> (String, Vec<u8>) {
    let mut b = valid.to_vec();
    let len = b.len().max(1);
    let at = if rng.below(2) == 0 { rng.below(len.min(1024)) } else { rng.below(len) }.min(b.len());
    let how = match rng.below(5) {
        0 => {
            b.truncate(at);
            format!("cut to {at} bytes")
        }
        1 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let i = if rng.below(2) == 0 { rng.below(len.min(1024)) } else { rng.below(len) };
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.below(8);
                }
            }
            format!("{n} bits flipped")
        }
        2 => {
            let v = [0x00, 0xFF, 0x7F, 0x80][rng.below(4)];
            let end = (at + 8).min(b.len());
            b[at..end].fill(v);
            format!("bytes {at}..{end} set to {v:#04x}")
        }
        3 => {
            let n = 1 + rng.below(64);
            let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            b.splice(at..at, junk);
            format!("{n} random bytes inserted at {at}")
        }
        _ => {
            let end = (at + 1 + rng.below(256)).min(b.len());
            b.drain(at..end);
            format!("bytes {at}..{end} removed")
        }
    };
    (how, b)
}

/// `bytes` with its first 8 bytes (a safetensors header length) replaced by `n`.
pub fn with_header_len(bytes: &[u8], n: u64) -> Vec<u8> {
    [&n.to_le_bytes()[..], bytes.get(8..).unwrap_or_default()].concat()
}

/// A safetensors file with its JSON header changed by `f` and its data unchanged.
pub fn with_header(bytes: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    f(&mut header);
    let mut text = header.to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    [&(text.len() as u64).to_le_bytes()[..], text.as_bytes(), &bytes[8 + n..]].concat()
}
