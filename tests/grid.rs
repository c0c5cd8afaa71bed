//! The experiment grid's logic without a GPU (`Grid::train_with` with a stand-in trainer): the
//! order (teachers first, file order, every seed), the seed each run gets, a failed (run, seed)
//! recorded while the others go on, a student refused until its teacher finished that seed or
//! when that seed's teacher checkpoint is gone, and a failure forgotten when the pair is tried
//! again.

mod common;

use heft::experiment::{layout, parse, Grid, Run};
use heft::report::metrics::Confusion;
use heft::train::{Eval, Phase, RunFiles, RunResult};
use heft::tune::Tuning;
use heft::{Error, Result};
use std::path::{Path, PathBuf};

const GRID: &str = r#"seeds = [1, 2, 3]
[data]
path = "d"
input = 64
[base]
model = "alexnet"
epochs = 4
[[run]]
name = "s"
student = true
teacher = "t"
[[run]]
name = "t"
epochs = 7
"#;

/// A finished run as `train` leaves it for `layout::finished`: the done marker, the test line
/// of the metrics log (accuracy 3/4) and a checkpoint file (its students' start; never read).
fn finish(dir: &Path, phase: Phase) -> RunResult {
    let files = RunFiles::new(dir, phase);
    std::fs::create_dir_all(dir).unwrap();
    let summary = Confusion { classes: vec!["a".into(), "b".into()], counts: vec![vec![2, 0], vec![1, 1]] }.summary();
    let line = serde_json::json!({ "phase": phase.name(), "test": summary, "best_epoch": 1 });
    std::fs::write(files.metrics(), format!("{line}\n")).unwrap();
    std::fs::write(files.done(), "{}").unwrap();
    std::fs::write(files.checkpoint(), "").unwrap();
    RunResult { best_epoch: 1, best_val: summary.clone(), test: Eval { summary, loss: 0.5, ranges: vec![], peaks: vec![] }, checkpoint: files.checkpoint(), seconds: 1.0 }
}

#[test]
fn the_grid_orders_seeds_records_failures_and_waits_for_teachers() {
    let out = common::tmp("grid-logic");
    let exp = parse(&out.join("grid.toml"), GRID).unwrap();
    let tuning = Tuning::default();
    let grid = Grid { exp: &exp, out: &out, progress: false, tuning: &tuning };
    let mut calls: Vec<(String, u64, u64, usize, PathBuf)> = Vec::new();
    let mut trainer = |run: &Run, seed: u64, recipe: &heft::recipe::Recipe, dir: &Path| -> Result<RunResult> {
        calls.push((run.name.clone(), seed, recipe.seed, recipe.epochs, dir.to_path_buf()));
        if run.name == "t" && seed == 2 {
            return Err(Error::Invalid("stand-in failure".into()));
        }
        Ok(finish(dir, run.phase()))
    };
    let e = grid.train_with(&[], &mut trainer).expect_err("two pairs fail").to_string();
    let names: Vec<(&str, u64)> = calls.iter().map(|c| (c.0.as_str(), c.1)).collect();
    // the teacher first although the file lists it second; the student skips seed 2
    assert_eq!(names, [("t", 1), ("t", 2), ("t", 3), ("s", 1), ("s", 3)]);
    for (name, seed, recipe_seed, epochs, dir) in &calls {
        assert_eq!((recipe_seed, dir), (seed, &layout::seed_dir(&out, name, *seed)));
        assert_eq!(*epochs, if name == "t" { 7 } else { 4 }, "{name}: its own epochs over the base's");
    }
    assert!(e.starts_with("2 of 6 (run, seed) pairs failed (t seed 2, s seed 2)"), "{e}");
    assert_eq!(layout::failure(&out, "t", 2).as_deref(), Some("stand-in failure"));
    let refused = layout::failure(&out, "s", 2).unwrap();
    assert!(refused.contains("distils teacher run t, which has not finished seed 2"), "{refused}");
    assert_eq!(layout::failure(&out, "t", 1), None);

    // tried again (only the teacher): it now finishes, and its failure is forgotten
    let mut calls = 0;
    let mut trainer = |run: &Run, _: u64, _: &heft::recipe::Recipe, dir: &Path| -> Result<RunResult> {
        calls += 1;
        Ok(finish(dir, run.phase()))
    };
    grid.train_with(&[exp.select("t").unwrap()], &mut trainer).unwrap();
    assert_eq!(calls, 3);
    assert_eq!(layout::failure(&out, "t", 2), None);
    assert!(layout::finished(&out, exp.run("t").unwrap(), 2).unwrap().is_some());

    // a results folder kept without the teacher's checkpoints: a finished student (seed 1) goes
    // to the trainer, which skips it; one still to train (seed 2) is refused naming the missing
    // checkpoint; nothing is deleted
    let teacher = |seed| RunFiles::new(&layout::seed_dir(&out, "t", seed), Phase::Teacher);
    for seed in [1, 2] {
        std::fs::remove_file(teacher(seed).checkpoint()).unwrap();
    }
    let mut trained = Vec::new();
    let mut trainer = |run: &Run, seed: u64, _: &heft::recipe::Recipe, dir: &Path| -> Result<RunResult> {
        trained.push(seed);
        Ok(finish(dir, run.phase()))
    };
    let e = grid.train_with(&[exp.select("s").unwrap()], &mut trainer).expect_err("seed 2 is refused").to_string();
    assert_eq!(trained, [1, 3]);
    assert!(e.starts_with("1 of 3 (run, seed) pairs failed (s seed 2)"), "{e}");
    let refused = layout::failure(&out, "s", 2).unwrap();
    assert!(refused.contains("finished but whose checkpoint") && refused.contains(&teacher(2).checkpoint().display().to_string()), "{refused}");
    assert!(teacher(1).finished() && teacher(2).finished(), "the teachers' results stay");
    std::fs::remove_dir_all(&out).unwrap();
}
