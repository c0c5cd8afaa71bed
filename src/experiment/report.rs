//! An experiment's report from the (run, seed) pairs finished so far: results.md, results.json
//! and the comparison chart (comparison.png), with each student's CKKS cost from its checkpoint.

use super::layout;
use super::results::{self, HeCost, Row};
use super::spec::{Experiment, RunKind};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::report::bars::{bar_chart, BarRow};
use crate::train::{trained_config, RunFiles};
use std::path::Path;

/// Write the report into `out` and return its table (Markdown). `open` gives a GPU to build
/// the students for their HE depth; without one that column stays empty, with a warning.
pub fn write(exp: &Experiment, out: &Path, open: &dyn Fn() -> Result<Gpu>) -> Result<String> {
    let got = (exp.runs.iter())
        .map(|r| exp.seeds.iter().filter_map(|&s| layout::finished(out, r, s).transpose()).collect::<Result<Vec<_>>>())
        .collect::<Result<Vec<_>>>()?;
    let failed: Vec<Vec<(u64, String)>> = (exp.runs.iter()).map(|r| exp.seeds.iter().filter_map(|&s| layout::failure(out, &r.name, s).map(|m| (s, m))).collect()).collect();
    let mut rows = results::rows(exp, &got, &failed);
    he_costs(exp, out, open, &mut rows);
    std::fs::create_dir_all(out).map_err(|err| Error::Io { path: out.display().to_string(), err })?;
    results::write(out, exp, &rows)?;
    let bars: Vec<BarRow> = rows.iter().map(|r| BarRow { label: r.name.clone(), values: [r.accuracy, r.macro_f1].map(|s| s.map(|s| (s.mean, s.std))).to_vec() }).collect();
    let title = format!("test metrics over {} seed(s), mean ± std", exp.seeds.len());
    if let Err(e) = bar_chart(&out.join("comparison.png"), &title, &["accuracy", "macro-F1"], &bars) {
        eprintln!("warning: the comparison chart was not written: {e}");
    }
    Ok(results::markdown(exp, &rows))
}

/// Fill in each finished student's CKKS cost (depth depends on the architecture only): from the
/// first finished seed whose checkpoint is there, else from the network the first seed's done
/// marker records (a results folder kept without its checkpoints).
fn he_costs(exp: &Experiment, out: &Path, open: &dyn Fn() -> Result<Gpu>, rows: &mut [Row]) {
    let students: Vec<(usize, Vec<RunFiles>)> = (exp.runs.iter().zip(rows.iter()).enumerate())
        .filter(|(_, (run, row))| matches!(run.kind, RunKind::Student { .. }) && !row.seeds.is_empty())
        .map(|(i, (run, row))| (i, row.seeds.iter().map(|s| layout::run_files(out, run, s.seed)).collect()))
        .collect();
    if students.is_empty() {
        return;
    }
    let gpu = match open() {
        Ok(g) => g,
        Err(e) => return eprintln!("warning: no HE depth column ({e})"),
    };
    for (i, seeds) in students {
        let model = match seeds.iter().find(|f| f.checkpoint().exists()) {
            Some(f) => crate::nn::checkpoint::load(&gpu, &f.checkpoint()),
            None => trained_config(&seeds[0]).and_then(|c| {
                let c = c.ok_or_else(|| Error::Invalid(format!("{} has no done marker", seeds[0].dir.display())))?;
                crate::nn::checkpoint::build(&gpu, c)
            }),
        };
        match model {
            Ok(m) => {
                let r = crate::he::report::report(&m, None);
                rows[i].he = Some(HeCost { depth: r.depth, ring_dim: r.ckks.ring_dim });
            }
            Err(e) => eprintln!("warning: no HE depth for {}: {e}", rows[i].name),
        }
    }
}
