//! `heft summary`: layers, output shapes, parameters and FLOPs of a model, and the number of
//! activation layers (each polynomial activation costs the student one or more CKKS levels).

use super::layers::{Join, Layer, PoolKind};
use super::model::Model;
use crate::error::Result;

pub struct Row {
    /// Indented by depth in the layer tree.
    pub name: String,
    pub kind: String,
    pub shape: Vec<usize>,
    /// A leaf's own parameters (an inner node's are in its children's rows).
    pub params: usize,
    /// Floating-point operations for one image (multiply-add = 2).
    pub flops: u64,
}

fn pool_text(kind: &str, p: crate::ops::maxpool::Pool) -> String {
    format!("{kind} {} s{}{}", p.kernel, p.stride, if p.ceil { " ceil" } else { "" })
}

/// Kind, parameters and FLOPs per image of one node for input shape `input` and output `s`.
fn describe(l: &Layer, input: &[usize], s: &[usize]) -> (String, String, usize, u64) {
    let numel: usize = s[1..].iter().product();
    match l {
        Layer::Conv(c) => {
            let w = c.w.value.shape();
            let flops = 2 * (w.iter().product::<usize>() * s[2] * s[3]) as u64;
            (c.name.clone(), format!("Conv {}x{} s{} p{}", w[2], w[3], c.stride, c.pad), c.w.value.numel() + c.b.as_ref().map_or(0, |b| b.value.numel()), flops)
        }
        Layer::Linear(f) => (f.name.clone(), "Linear".into(), f.w.value.numel() + f.b.as_ref().map_or(0, |b| b.value.numel()), 2 * f.w.value.numel() as u64),
        Layer::Act(a) => {
            let kind = if a.coef.is_some() { format!("{:?} (ratio {})", a.kind, a.ratio) } else { "ReLU".into() };
            (a.name.clone(), kind, a.coef.as_ref().map_or(0, |c| c.value.numel()), 4 * numel as u64)
        }
        Layer::Pool(p) => {
            let (kind, flops) = match p.kind {
                PoolKind::Max(w) => (pool_text("MaxPool", w), w.kernel * w.kernel * numel),
                PoolKind::Avg(w) => (pool_text("AvgPool", w), w.kernel * w.kernel * numel),
                PoolKind::GlobalAvg => ("GlobalAvgPool".into(), input[1..].iter().product()),
            };
            (p.name.clone(), kind, 0, flops as u64)
        }
        Layer::BatchNorm(b) => (b.name.clone(), "BatchNorm".into(), 2 * s[1], 2 * numel as u64),
        Layer::Dropout(p) => ("".into(), format!("Dropout {p}"), 0, 0),
        Layer::Flatten => ("".into(), "Flatten".into(), 0, 0),
        Layer::Block(b) => (b.name.clone(), b.kind.into(), 0, 0),
        Layer::Branches(b) if b.join == Join::Add => ("".into(), format!("Add of {} branches", b.branches.len()), 0, numel as u64),
        Layer::Branches(b) => ("".into(), format!("Concat of {} branches", b.branches.len()), 0, 0),
    }
}

fn collect(l: &Layer, input: &[usize], depth: usize, rows: &mut Vec<Row>) -> Result<Vec<usize>> {
    let s = l.out_shape(input)?;
    let (mut name, kind, params, flops) = describe(l, input, &s);
    if name.is_empty() && !l.is_leaf() {
        name = format!("({})", kind.split(' ').next().unwrap_or("").to_lowercase());
    }
    rows.push(Row { name: format!("{}{name}", "  ".repeat(depth)), kind, shape: s.clone(), params, flops });
    match l {
        Layer::Block(b) => {
            let mut x = input.to_vec();
            for c in &b.layers {
                x = collect(c, &x, depth + 1, rows)?;
            }
        }
        Layer::Branches(b) => {
            for c in &b.branches {
                collect(c, input, depth + 1, rows)?;
            }
        }
        _ => {}
    }
    Ok(s)
}

/// One row per node of the layer tree in execution order (the root block's children at the top
/// level).
pub fn rows(model: &Model) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut s = model.in_shape(1);
    for l in model.root.children() {
        s = collect(l, &s, 0, &mut rows)?;
    }
    Ok(rows)
}

/// The printed summary.
pub fn format(model: &Model) -> Result<String> {
    let rows = rows(model)?;
    let c = &model.config;
    let mut out = format!(
        "{:?} {}{} — input {}x{}x{}, {} classes, width x{}{}\n",
        c.arch,
        if c.student.is_some() { "student" } else { "teacher" },
        if c.batchnorm { " with batch norm" } else { "" },
        c.in_channels,
        c.input,
        c.input,
        c.classes,
        c.width,
        if matches!(c.arch, super::model::Arch::Alexnet) { format!(", hidden {}", c.hidden) } else { String::new() }
    );
    out += &format!("{:<38} {:<26} {:>18} {:>12} {:>14}\n", "layer", "type", "output", "params", "FLOPs/image");
    for r in &rows {
        out += &format!("{:<38} {:<26} {:>18} {:>12} {:>14}\n", r.name, r.kind, format!("{:?}", &r.shape[1..]), r.params, r.flops);
    }
    let acts = model.activations().len();
    out += &format!(
        "total: {} parameters, {:.3} GFLOP/image, {} activation layers (each costs the HE student multiplicative depth)\n",
        model.param_count(),
        rows.iter().map(|r| r.flops).sum::<u64>() as f64 / 1e9,
        acts
    );
    Ok(out)
}
