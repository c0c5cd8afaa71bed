//! The Slurm script `heft experiment --emit slurm` writes, submitted to a real single-node
//! cluster: the teachers' array, the students' array after it (afterok), the report job last.
//! Ignored by default: `tools/slurm/test.sh` starts slurmctld/slurmd (slurm-wlm) and runs it.
//! `HEFT_SLURM_GPUS` sets the GPUs each task asks for (default 0: the test cluster has none).

mod common;

use common::{heft, tmp};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs a running slurmctld/slurmd: tools/slurm/test.sh starts a single-node cluster and runs this"]
fn the_emitted_job_arrays_run_on_a_real_slurm_cluster() {
    let up = Command::new("sinfo").arg("-h").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(up, "no Slurm cluster answers `sinfo`: start one with tools/slurm/start-cluster.sh (or run tools/slurm/test.sh)");
    let dir = tmp("slurm");
    let d = dir.display().to_string();
    let (code, _, err) = heft(&["synth", "--out", &format!("{d}/data"), "--size", "64", "--train", "4", "--val", "2", "--test", "2"]);
    assert_eq!(code, 0, "{err}");
    let grid = "seeds = [1, 2]\n[data]\npath = \"data\"\ninput = 64\n[base]\nmodel = \"alexnet\"\nwidth = 0.125\nhidden = 32\nepochs = 1\nbatch = 8\n\
                [[run]]\nname = \"t\"\n[[run]]\nname = \"s\"\nstudent = true\nteacher = \"t\"\nlr = 1e-4\nclip_value = 1.0\n\
                [[run]]\nname = \"c\"\nstudent = true\nweights = \"scratch\"\nclip_value = 1.0\n";
    std::fs::write(dir.join("grid.toml"), grid).unwrap();
    let gpus = std::env::var("HEFT_SLURM_GPUS").unwrap_or_else(|_| "0".into());
    let out = dir.join("out");
    let args = ["experiment", &format!("{d}/grid.toml"), "--out", &out.display().to_string(), "--emit", "slurm", "--gpus-per-task", &gpus, "--no-tune"];
    let (code, _, err) = heft(&args);
    assert_eq!(code, 0, "{err}");
    let submit = Command::new("bash").arg(out.join("submit-slurm.sh")).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap();
    let said = String::from_utf8_lossy(&submit.stdout).to_string();
    assert!(submit.status.success(), "{said}{}", String::from_utf8_lossy(&submit.stderr));
    // "submitted: first 12, students 13, report 14"
    let ids: Vec<String> = said.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(String::from).collect();
    assert_eq!(ids.len(), 3, "{said}");
    let start = Instant::now();
    loop {
        let q = Command::new("squeue").args(["-h", "-j", &ids.join(",")]).output().unwrap();
        let queue = String::from_utf8_lossy(&q.stdout).to_string();
        if queue.trim().is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "the jobs did not end within 10 minutes:\n{queue}");
        std::thread::sleep(Duration::from_secs(2));
    }
    let logs: Vec<String> = std::fs::read_dir(out.join("slurm")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let md = std::fs::read_to_string(out.join("results.md")).unwrap_or_else(|e| panic!("no results.md ({e}); logs: {logs:?}"));
    // every run finished both seeds: the student only after its teacher (it refuses otherwise)
    for row in ["| 0 | t |", "| 1 | s (vs t) |", "| 2 | c |"] {
        let line = md.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("{row} missing:\n{md}"));
        assert!(line.contains("| 2/2 |"), "{line}\nlogs: {logs:?}");
    }
    let first = &ids[0];
    for task in [format!("heft-first-{first}_0.out"), format!("heft-first-{first}_2.out"), format!("heft-students-{}_1.out", ids[1]), format!("heft-report-{}.out", ids[2])] {
        assert!(logs.contains(&task), "{task} not in {logs:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
