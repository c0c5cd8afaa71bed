//! `heft experiment` and `heft reproduce`: experiment files refused with file, line and key;
//! the aggregation over seeds against hand-computed numbers; the paper's grid; the Slurm script;
//! a reduced paper grid trained end to end (results checked against each seed's own metrics);
//! and, ignored unless a Slurm cluster runs (tools/slurm/test.sh), the emitted job arrays run
//! on a real slurmctld/slurmd.

mod common;

use common::{assert_clean_error, tmp};
use heft::experiment::paper::{self, PaperGrid};
use heft::experiment::results::{self, stat, SeedResult, Stat};
use heft::experiment::{parse, slurm, RunKind, StudentStart};
use heft::nn::convert::Schedule;
use heft::nn::layers::ActKind;
use heft::nn::model::Arch;
use std::path::Path;

const GRID: &str = r#"seeds = [1, 2, 3]
[data]
path = "d"
input = 64
[base]
model = "alexnet"
width = 0.125
[[run]]
name = "t"
[[run]]
name = "s"
student = true
teacher = "t"
"#;

fn parse_err(text: &str) -> String {
    parse(Path::new("dir/grid.toml"), text).err().expect("should be refused").to_string()
}

#[test]
fn bad_experiment_files_name_file_line_and_key() {
    let e = parse_err(&GRID.replace("teacher = \"t\"", "teacher = \"t\"\nlrr = 1e-4"));
    assert!(e.starts_with("dir/grid.toml:14: key `lrr`: no such key"), "{e}");
    let e = parse_err(&GRID.replace("width = 0.125", "width = 0.125\nepochs = \"ten\""));
    assert!(e.starts_with("dir/grid.toml:8: key `epochs`: "), "{e}");
    let cases = [
        ("teacher = \"t\"", "teacher = \"x\"", "dir/grid.toml:10: run `s`: teacher `x`: no run has this name"),
        ("name = \"t\"", "name = \"t\"\nact = \"square\"", "dir/grid.toml:8: run `t`: `act` applies to students only"),
        ("name = \"s\"", "name = \"t\"", "dir/grid.toml:10: run `t`: a second run with this name"),
        ("teacher = \"t\"", "teacher = \"t\"\nwidth = 1.0", "run `s`: `width`: a student copies its teacher's network"),
        ("teacher = \"t\"", "weights = \"scratch\"\nkd = true", "run `s`: `kd = true` with `weights = \"scratch\"` is not supported"),
        ("teacher = \"t\"", "teacher = \"t\"\nepochs = 0", "dir/grid.toml:10: run `s`: epochs and batch must be at least 1"),
        ("teacher = \"t\"", "teacher = \"t\"\nclip_value = 1.0\nclip_norm = 1.0", "run `s`: clip by value or by norm, not both"),
        ("[base]", "[base]\nname = \"b\"", "[base] cannot set `name`"),
        ("seeds = [1, 2, 3]", "seeds = [1, 1]", "`seeds` must list at least one seed, none twice"),
        ("teacher = \"t\"", "teacher = \"t\"\nmax_range = inf", "run `s`: max-range must be a finite number, not inf"),
        ("teacher = \"t\"", "teacher = \"t\"\nlr = nan", "run `s`: lr must be a finite number, not NaN"),
    ];
    for (from, to, want) in cases {
        let e = parse_err(&GRID.replace(from, to));
        assert!(e.contains(want), "{to:?}: {e}");
    }
    // a student of a student
    let e = parse_err(&format!("{GRID}[[run]]\nname = \"u\"\nstudent = true\nteacher = \"s\"\n"));
    assert!(e.contains("dir/grid.toml:14: run `u`: teacher `s`: that run is a student"), "{e}");
    // on the command line: a missing file, an unknown run, a student before its teacher
    let dir = tmp("exp-errors");
    let file = dir.join("grid.toml");
    std::fs::write(&file, GRID).unwrap();
    let (f, out) = (file.display().to_string(), dir.join("out").display().to_string());
    assert_clean_error(&["experiment", &format!("{}/none.toml", dir.display())], "none.toml");
    assert_clean_error(&["experiment", &f, "--run", "nope"], "no run \"nope\"; the runs are: 0 t, 1 s");
    assert_clean_error(&["experiment", &f, "--out", &out, "--run", "s"], "run s distils teacher run t, which has not finished seed 1");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn seed(seed: u64, accuracy: f64, macro_f1: f64) -> SeedResult {
    SeedResult { seed, accuracy, macro_f1, precision: 0.5, recall: 0.25, best_epoch: 1 }
}

fn close(got: Option<Stat>, mean: f64, std: Option<f64>) {
    let g = got.expect("a stat");
    assert!((g.mean - mean).abs() < 1e-12, "mean {} != {mean}", g.mean);
    match (g.std, std) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "std {a} != {b}"),
        (a, b) => assert_eq!(a, b),
    }
}

/// Teacher accuracies 0.8, 0.9, 1.0 over seeds 1–3: mean 0.9, sample std √((0.01+0+0.01)/2) = 0.1.
/// The student finished seeds 1 and 2 with 0.7 and 0.9: mean 0.8, std √(0.02/1) = 0.141421...;
/// paired gaps −0.1 and 0.0: mean −0.05, std √(0.005/1) = 0.070710...
#[test]
fn aggregation_over_seeds_matches_hand_computed_numbers() {
    let exp = parse(Path::new("g.toml"), GRID).unwrap();
    let got = vec![vec![seed(1, 0.8, 0.6), seed(2, 0.9, 0.7), seed(3, 1.0, 0.8)], vec![seed(1, 0.7, 0.7), seed(2, 0.9, 0.5)]];
    let rows = results::rows(&exp, &got, &[vec![], vec![(3, "diverged".into())]]);
    close(rows[0].accuracy, 0.9, Some(0.1));
    close(rows[0].macro_f1, 0.7, Some(0.1));
    close(rows[0].precision, 0.5, Some(0.0));
    assert_eq!((rows[0].gap_accuracy, rows[0].missing_seeds.len()), (None, 0));
    close(rows[1].accuracy, 0.8, Some(0.02f64.sqrt()));
    close(rows[1].gap_accuracy, -0.05, Some(0.005f64.sqrt()));
    close(rows[1].gap_macro_f1, -0.05, Some(0.045f64.sqrt())); // gaps +0.1 and −0.2
    assert_eq!(rows[1].missing_seeds, vec![3]);
    assert_eq!(stat(&[0.25]), Some(Stat { mean: 0.25, std: None }));
    assert_eq!(stat(&[]), None);
    assert_eq!(results::cell(rows[0].accuracy, false), "0.9000 ± 0.1000");
    assert_eq!(results::cell(rows[1].gap_accuracy, true), "-0.0500 ± 0.0707");
    assert_eq!(results::cell(stat(&[0.25]), false), "0.2500");
    let md = results::markdown(&exp, &rows);
    assert!(md.contains("| 1 | s (vs t) |") && md.contains("| 2/3 |") && md.contains("Not finished: s (seeds [3])"), "{md}");
    assert!(md.contains("- s seed 3 failed: diverged"), "{md}");
    // precision and recall of a seed are the means over classes
    let s = heft::report::metrics::Confusion { classes: vec!["a".into(), "b".into()], counts: vec![vec![3, 1], vec![0, 4]] }.summary();
    let r = SeedResult::of(7, &s, 2);
    // precision a 3/3, b 4/5; recall a 3/4, b 4/4
    assert!((r.precision - 0.9).abs() < 1e-12 && (r.recall - 0.875).abs() < 1e-12 && r.accuracy == 0.875, "{r:?}");
}

#[test]
fn a_set_guard_bound_is_named_in_the_setup() {
    let exp = parse(Path::new("dir/grid.toml"), &GRID.replace("teacher = \"t\"", "teacher = \"t\"\nmax_range = 1e30")).unwrap();
    let setup = results::setup(exp.run("s").unwrap());
    assert!(setup.ends_with(", guard bound ±1e30"), "{setup}");
}

fn paper_grid(models: Vec<Arch>, seeds: Vec<u64>, epochs: usize) -> PaperGrid {
    PaperGrid { data: "/data/ct".into(), format: heft::data::Format::Folder, input: 64, channels: 1, seeds, epochs, width: 0.125, hidden: 32, batch: 12, models }
}

#[test]
fn the_paper_grid_has_the_method_its_ablations_and_the_scratch_baseline() {
    let text = paper_grid(vec![Arch::Alexnet, Arch::Squeezenet11], vec![1, 2, 3], 5).toml();
    let exp = parse(Path::new("/runs/p/experiment.toml"), &text).unwrap();
    assert_eq!(exp.seeds, vec![1, 2, 3]);
    assert_eq!(exp.out.as_deref(), Some(Path::new("/runs/p/.")));
    for (p, acts) in [("alexnet", 7), ("squeezenet1_1", 26)] {
        let run = |s: &str| exp.run(&format!("{p}-{s}")).unwrap_or_else(|| panic!("{p}-{s} missing"));
        // SqueezeNet's ReLU teacher needs batch norm to train on covid-ct (README); AlexNet's not
        assert!(matches!(&run("teacher").kind, RunKind::Teacher { model, .. } if model.batchnorm == (p != "alexnet")), "{p}");
        let student = |s: &str| match &run(s).kind {
            RunKind::Student { from, config, distil } => (from.clone(), config.clone(), *distil, run(s).recipe.clone()),
            k => panic!("{p}-{s} is {k:?}"),
        };
        let (from, cfg, kd, r) = student("method");
        assert!(matches!(from, StudentStart::Teacher(t) if t == format!("{p}-teacher")));
        assert_eq!((cfg.act, cfg.batchnorm, kd, r.schedule, r.epochs), (ActKind::Poly, true, true, Schedule::AllAtOnce, 5));
        assert!(!student("no-kd").2);
        // SqueezeNet's students (the scratch baseline too) carry the range loss; AlexNet's not
        for s in ["method", "no-kd", "approx-relu", "scratch"] {
            assert_eq!(student(s).3.range_weight > 0.0, p != "alexnet", "{p}-{s}");
            // and IBM's stopping rule; AlexNet's students keep heft's default bound
            assert_eq!(student(s).3.max_range, (p != "alexnet").then_some(1e30), "{p}-{s}");
        }
        assert_eq!(heft::experiment::results::setup(run("method")).contains("range loss 0.001 (R 10)"), p != "alexnet");
        assert_eq!(heft::experiment::results::setup(run("method")).contains("guard bound ±1e30"), p != "alexnet");
        assert_eq!(student("square").1.act, ActKind::Square);
        assert_eq!(student("approx-relu").1.act, ActKind::ApproxRelu);
        // the schedules get one epoch per activation and one more
        assert_eq!((student("layer").3.schedule, student("layer").3.epochs), (Schedule::LayerByLayer { start: 0, every: 1 }, acts + 1));
        // smooth over one epoch would be layer by layer itself: two epochs per activation
        assert_eq!((student("smooth").3.schedule, student("smooth").3.epochs), (Schedule::Smooth { start: 0, every: 2 }, 2 * acts + 1));
        let smooth = Schedule::Smooth { start: 0, every: 2 };
        assert_eq!(smooth.ratios(2, 0), vec![0.0, 0.5], "the last activation half way in its first epoch");
        let (from, _, kd, _) = student("scratch");
        assert!(matches!(from, StudentStart::Scratch { compare_with: Some(_), .. }) && !kd);
        assert_eq!(run("scratch").needs(), None, "a from-scratch run waits for nobody");
    }
    assert_eq!(exp.runs.len(), 16);
    // IBM's approx-ReLU coefficients (c0, c1, c2), written with IBM's digits (f32 rounds them)
    assert_eq!(heft::nn::layers::APPROX_RELU, [0.0, 0.500000000000008f64 as f32, 0.000469841857369822f64 as f32]);
    // the activation counts the schedules are sized by, on built networks
    let gpu = common::gpu();
    for (arch, input) in [(Arch::Alexnet, 64), (Arch::Squeezenet11, 64), (Arch::Squeezenet10, 64), (Arch::Resnet20, 32)] {
        let cfg = heft::nn::model::ModelConfig { width: 0.125, hidden: 8, ..heft::nn::model::ModelConfig::new(arch, vec!["a".into(), "b".into()], 1, input) };
        assert_eq!(heft::nn::model::Model::teacher(&gpu, cfg, 0).unwrap().activations().len(), paper::activations(arch), "{arch:?}");
    }
}

#[test]
fn the_slurm_script_runs_students_after_their_teachers() {
    assert_eq!(slurm::array_spec(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
    assert_eq!(slurm::sh_quote("it's"), r"'it'\''s'");
    let text = paper_grid(vec![Arch::Alexnet, Arch::Squeezenet11], vec![1], 1).toml();
    let exp = parse(Path::new("/g/experiment.toml"), &text).unwrap();
    let s = slurm::script(&exp, Path::new("/bin/heft"), Path::new("/g/experiment.toml"), Path::new("/g"), &["--no-tune".into()], 1);
    // teachers and from-scratch runs (indices 0, 7, 8, 15) first; the 12 students after them
    assert!(s.contains("first=$(sbatch --parsable \"$@\" --job-name=heft-first --array=0,7-8,15 --gres=gpu:1 --output='/g/slurm/%x-%A_%a.out' <<'TASK'"), "{s}");
    assert!(s.contains("--job-name=heft-students --array=1-6,9-14 --gres=gpu:1 --dependency=afterok:$first --kill-on-invalid-dep=yes "), "{s}");
    assert!(s.contains("--dependency=afterany:$students"), "{s}");
    assert!(s.contains("exec '/bin/heft' experiment '/g/experiment.toml' --out '/g' --quiet '--no-tune' --run \"$SLURM_ARRAY_TASK_ID\""), "{s}");
    let s0 = slurm::script(&exp, Path::new("/bin/heft"), Path::new("/g/experiment.toml"), Path::new("/g"), &[], 0);
    assert!(!s0.contains("--gres"), "{s0}");
}

/// The test line of a (run, seed)'s metrics log, and the accuracy and macro precision computed
/// here from its confusion matrix (rows true, columns predicted).
fn confusion_figures(out: &Path, run: &str, phase: &str, seed: u64) -> (f64, f64) {
    let log = heft::report::log::read_jsonl(&out.join(run).join(format!("seed-{seed}")).join(format!("{phase}_metrics.jsonl"))).unwrap();
    let m: Vec<Vec<f64>> = serde_json::from_value(log.last().unwrap()["test"]["confusion"].clone()).unwrap();
    let n = m.len();
    let total: f64 = m.iter().flatten().sum();
    let col = |c: usize| m.iter().map(|row| row[c]).sum::<f64>();
    let precision = (0..n).map(|c| if col(c) == 0.0 { 0.0 } else { m[c][c] / col(c) }).sum::<f64>() / n as f64;
    ((0..n).map(|c| m[c][c]).sum::<f64>() / total, precision)
}

fn synth_data(dir: &Path) -> String {
    let d = dir.join("data").display().to_string();
    let (code, _, err) = common::heft(&["synth", "--out", &d, "--size", "64", "--train", "4", "--val", "2", "--test", "3", "--strength", "3"]);
    assert_eq!(code, 0, "{err}");
    d
}

/// `heft reproduce` on a reduced grid (AlexNet only, tiny, one seed, one epoch; the schedules
/// get their 8): every run trains or records why not, results.md/json agree with each run's
/// own metrics, and a second call skips what finished.
#[test]
fn a_reduced_paper_grid_trains_and_reports() {
    let dir = tmp("exp-reproduce");
    let data = synth_data(&dir);
    let out = dir.join("out");
    let o = out.display().to_string();
    let args = ["reproduce", "--data", &data, "--input", "64", "--seeds", "1", "--epochs", "1", "--width", "0.125", "--hidden", "32", "--batch", "8", "--models", "alexnet", "--out", &o, "--quiet", "--no-tune"];
    let (code, stdout, err) = common::heft(&args);
    assert!(!err.contains("panicked"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8);
    let mut failed = 0;
    for r in runs {
        let name = r["name"].as_str().unwrap();
        let phase = if name.ends_with("-teacher") { "teacher" } else { "student" };
        if let Some(f) = r["failures"].as_array().filter(|f| !f.is_empty()) {
            // a run that diverged says why, in the table and beside its files
            let why = f[0][1].as_str().unwrap();
            assert!(std::fs::read_to_string(out.join(name).join("seed-1/failed.txt")).unwrap().contains(why));
            assert!(std::fs::read_to_string(out.join("results.md")).unwrap().contains(&format!("- {name} seed 1 failed: {why}")));
            failed += 1;
            continue;
        }
        let (acc, precision) = confusion_figures(&out, name, phase, 1);
        assert_eq!(r["seeds"][0]["accuracy"].as_f64().unwrap(), acc, "{name}");
        assert!((r["precision"]["mean"].as_f64().unwrap() - precision).abs() < 1e-12, "{name}");
        assert!(r["accuracy"]["std"].is_null(), "one seed has no standard deviation");
        for f in ["safetensors", "json"].map(|e| format!("{phase}.{e}")).into_iter().chain(["loss", "accuracy", "confusion"].map(|p| format!("{phase}_{p}.png"))) {
            assert!(out.join(name).join("seed-1").join(&f).exists(), "{name}: {f} missing");
        }
        if let Some(t) = r["teacher"].as_str() {
            let want = acc - confusion_figures(&out, t, "teacher", 1).0;
            assert!((r["gap_accuracy"]["mean"].as_f64().unwrap() - want).abs() < 1e-12, "{name}");
        }
        // an AlexNet student costs 15 levels by hand (5 convolutions, 3 linear layers, 7
        // polynomials), which needs N = 32768 for 128-bit security (log2 QP = 50 + 15·40 + 60 =
        // 710: over 16384's 438, within 32768's 881); a teacher has no HE cost
        let he = if phase == "student" { serde_json::json!({"depth": 15, "ring_dim": 32768}) } else { serde_json::Value::Null };
        assert_eq!(r["he"], he, "{name}");
    }
    assert_eq!(code == 0, failed == 0, "exit {code} with {failed} failed runs: {err}");
    assert!(stdout.contains("| 7 | alexnet-scratch (vs alexnet-teacher) | from scratch"), "{stdout}");
    assert!(out.join("comparison.png").exists());
    // the same grid again: what finished is skipped (train's done marker), with its result
    let (code, stdout, err) = common::heft(&["experiment", &format!("{o}/experiment.toml"), "--run", "alexnet-method", "--run", "0", "--no-tune"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("2 of 2 (run, seed) pairs have finished before"), "{stdout}");
    assert_eq!(err.matches("holds this run, finished").count(), 2, "{err}");
    // the results kept without the students' checkpoints and configs: the HE column comes from
    // the network each done marker records
    let mut kept = 0;
    for r in runs.iter().filter(|r| r["he"].is_object()) {
        let seed = out.join(r["name"].as_str().unwrap()).join("seed-1");
        std::fs::remove_file(seed.join("student.safetensors")).unwrap();
        std::fs::remove_file(seed.join("student.json")).unwrap();
        kept += 1;
    }
    assert!(kept >= 5, "{kept} students with an HE cost");
    let (code, _, err) = common::heft(&["experiment", &format!("{o}/experiment.toml"), "--report"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("no HE depth"), "{err}");
    let again: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    for (before, after) in runs.iter().zip(again["runs"].as_array().unwrap()) {
        assert_eq!(after["he"], before["he"], "{}", before["name"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two seeds of a teacher and its student: the mean and sample standard deviation in
/// results.json are those of the two seeds' own confusion matrices.
#[test]
fn two_seeds_give_their_mean_and_standard_deviation() {
    let dir = tmp("exp-seeds");
    synth_data(&dir);
    let file = dir.join("grid.toml");
    let grid = GRID.replace("seeds = [1, 2, 3]", "seeds = [4, 5]").replace("path = \"d\"", "path = \"data\"").replace("width = 0.125", "width = 0.125\nhidden = 32\nepochs = 1\nbatch = 8");
    std::fs::write(&file, grid.replace("teacher = \"t\"", "teacher = \"t\"\nlr = 1e-4\nclip_value = 1.0")).unwrap();
    let out = dir.join("out");
    let (code, _, err) = common::heft(&["experiment", &file.display().to_string(), "--out", &out.display().to_string(), "--quiet", "--no-tune"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    for (i, (name, phase)) in [("t", "teacher"), ("s", "student")].into_iter().enumerate() {
        let (a, b) = (confusion_figures(&out, name, phase, 4).0, confusion_figures(&out, name, phase, 5).0);
        let (mean, std) = ((a + b) / 2.0, (a - b).abs() / 2f64.sqrt());
        let acc = &json["runs"][i]["accuracy"];
        assert!((acc["mean"].as_f64().unwrap() - mean).abs() < 1e-12 && (acc["std"].as_f64().unwrap() - std).abs() < 1e-12, "{name}: {acc} vs {mean} ± {std}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_readme_example_parses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```toml\nseeds").expect("README has the example experiment file") + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    let exp = parse(Path::new("grid.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = exp.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["teacher", "method", "scratch"]);
    assert_eq!(exp.runs[2].needs(), None);
}
