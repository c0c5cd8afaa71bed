//! `heft experiment FILE --emit slurm`: a bash script that submits the grid to Slurm as job
//! arrays whose index is the run's index in the file (`heft experiment FILE --run INDEX` per
//! task, every seed of that run in turn): first the runs that need nothing (teachers,
//! from-scratch runs), then the students with `--dependency=afterok:<first array>` (cancelled
//! if a first task fails), then a report job (`--report`) once the students have ended, however
//! they ended.

use super::spec::Experiment;
use std::fmt::Write;
use std::path::Path;

/// `s` quoted for bash (single quotes; a single quote inside becomes '\'').
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Sorted indices as a Slurm array spec: `0,3-5,8`.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if j == i { indices[i].to_string() } else { format!("{}-{}", indices[i], indices[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// The submit script for `exp`, to run `heft` (absolute path) on `file` with outputs in `out`
/// and `extra` arguments (e.g. `--no-tune`); `gpus` per task (`--gres=gpu:N`; 0 asks for none).
pub fn script(exp: &Experiment, heft: &Path, file: &Path, out: &Path, extra: &[String], gpus: usize) -> String {
    let (first, second): (Vec<&super::Run>, Vec<&super::Run>) = exp.runs.iter().partition(|r| r.needs().is_none());
    let idx = |runs: &[&super::Run]| runs.iter().map(|r| r.index).collect::<Vec<_>>();
    let mut cmd = format!("{} experiment {} --out {} --quiet", sh_quote(&heft.display().to_string()), sh_quote(&file.display().to_string()), sh_quote(&out.display().to_string()));
    for a in extra {
        cmd += &format!(" {}", sh_quote(a));
    }
    let gres = if gpus > 0 { format!(" --gres=gpu:{gpus}") } else { String::new() };
    let mut s = String::from("#!/usr/bin/env bash\n");
    let _ = writeln!(s, "# Submits {} to Slurm; written by `heft experiment --emit slurm`.", file.display());
    s += "# Usage: bash THIS_SCRIPT [sbatch options for every job, e.g. --partition=gpu --time=08:00:00]\n";
    s += "# Array task N trains run N of the file, all its seeds (`heft experiment FILE --run N`).\n";
    s += "set -euo pipefail\n";
    let _ = writeln!(s, "mkdir -p {}", sh_quote(&out.join("slurm").display().to_string()));
    // the job script goes to sbatch on stdin, in a quoted here-document: nothing in it is
    // expanded when submitting; $SLURM_ARRAY_TASK_ID is expanded by the task
    let submit = |var: &str, what: &str, options: String, args: &str| {
        format!("# {what}\n{var}=$(sbatch --parsable \"$@\" {options} <<'TASK'\n#!/bin/sh\nexec {cmd} {args}\nTASK\n)\n{var}=${{{var}%%;*}}\n")
    };
    let array = |name: &str, runs: &[&super::Run], dep: &str| {
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        let log = sh_quote(&out.join("slurm").join("%x-%A_%a.out").display().to_string());
        let options = format!("--job-name=heft-{name} --array={}{gres}{dep} --output={log}", array_spec(&idx(runs)));
        submit(name, &names.join(", "), options, "--run \"$SLURM_ARRAY_TASK_ID\"")
    };
    s += &array("first", &first, "");
    let last = if second.is_empty() {
        "first"
    } else {
        // a failed first task would leave the students pending forever: cancel them instead
        s += &array("students", &second, " --dependency=afterok:$first --kill-on-invalid-dep=yes");
        "students"
    };
    let log = sh_quote(&out.join("slurm").join("%x-%j.out").display().to_string());
    s += &submit("report", "results.md once every run has ended", format!("--job-name=heft-report --dependency=afterany:${last} --output={log}"), "--report");
    let _ = writeln!(s, "echo \"submitted: first $first{} report $report\"", if second.is_empty() { "," } else { ", students $students," });
    s
}
