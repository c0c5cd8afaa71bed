//! An experiment's report from the (run, seed) pairs finished so far: results.md, results.json
//! and the comparison chart (comparison.png), with each student's CKKS cost from its checkpoint.

use super::layout;
use super::results::{self, HeCost, Row};
use super::spec::{Experiment, RunKind};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::report::bars::{bar_chart, BarRow};
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

/// Fill in each finished student's CKKS cost from its first finished seed's checkpoint (depth
/// depends on the architecture only).
fn he_costs(exp: &Experiment, out: &Path, open: &dyn Fn() -> Result<Gpu>, rows: &mut [Row]) {
    let students: Vec<(usize, std::path::PathBuf)> = (exp.runs.iter().zip(rows.iter()).enumerate())
        .filter(|(_, (run, row))| matches!(run.kind, RunKind::Student { .. }) && !row.seeds.is_empty())
        .map(|(i, (run, row))| (i, layout::run_files(out, run, row.seeds[0].seed).checkpoint()))
        .collect();
    if students.is_empty() {
        return;
    }
    let gpu = match open() {
        Ok(g) => g,
        Err(e) => return eprintln!("warning: no HE depth column ({e})"),
    };
    for (i, path) in students {
        match crate::nn::checkpoint::load(&gpu, &path) {
            Ok(m) => {
                let r = crate::he::report::report(&m, None);
                rows[i].he = Some(HeCost { depth: r.depth, ring_dim: r.ckks.ring_dim });
            }
            Err(e) => eprintln!("warning: no HE depth for {}: {e}", rows[i].name),
        }
    }
}
