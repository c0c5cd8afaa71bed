//! `heft summary`: layers, output shapes, parameters and FLOPs of a model, and the number of
//! activation layers (each polynomial activation costs the student one or more CKKS levels).

use super::layers::{Block, Branches, Join, Leaf, PoolKind};
use super::model::Model;
use super::tree::{join_shape, Flow, Node};
use crate::error::{Error, Result};

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

/// Name, kind, parameters and FLOPs per image of one leaf for input shape `input` and output `s`.
fn describe(l: Leaf, input: &[usize], s: &[usize]) -> (String, String, usize, u64) {
    let numel: usize = s[1..].iter().product();
    match l {
        Leaf::Conv(c) => {
            let w = c.w.value.shape();
            let flops = 2 * (w.iter().product::<usize>() * s[2] * s[3]) as u64;
            (c.name.clone(), format!("Conv {}x{} s{} p{}", w[2], w[3], c.stride, c.pad), c.w.value.numel() + c.b.as_ref().map_or(0, |b| b.value.numel()), flops)
        }
        Leaf::Linear(f) => (f.name.clone(), "Linear".into(), f.w.value.numel() + f.b.as_ref().map_or(0, |b| b.value.numel()), 2 * f.w.value.numel() as u64),
        Leaf::Act(a) => {
            let kind = if a.coef.is_some() { format!("{:?} (ratio {})", a.kind, a.ratio) } else { "ReLU".into() };
            (a.name.clone(), kind, a.coef.as_ref().map_or(0, |c| c.value.numel()), 4 * numel as u64)
        }
        Leaf::Pool(p) => {
            let (kind, flops) = match p.kind {
                PoolKind::Max(w) => (pool_text("MaxPool", w), w.kernel * w.kernel * numel),
                PoolKind::Avg(w) => (pool_text("AvgPool", w), w.kernel * w.kernel * numel),
                PoolKind::GlobalAvg => ("GlobalAvgPool".into(), input[1..].iter().product()),
            };
            (p.name.clone(), kind, 0, flops as u64)
        }
        Leaf::BatchNorm(b) => (b.name.clone(), "BatchNorm".into(), 2 * s[1], 2 * numel as u64),
        Leaf::Dropout(p) => ("".into(), format!("Dropout {p}"), 0, 0),
        Leaf::Flatten => ("".into(), "Flatten".into(), 0, 0),
    }
}

/// The rows, as a flow over shapes: an inner node's row comes before its children's and gets
/// its shape (and an addition its FLOPs) when they are done. The root has no row: its children
/// are the top level.
#[derive(Default)]
struct Rows {
    rows: Vec<Row>,
    /// Rows of the inner nodes being visited, innermost last.
    open: Vec<usize>,
}

impl Rows {
    fn push(&mut self, depth: usize, name: String, kind: String, shape: Vec<usize>, params: usize, flops: u64) {
        self.rows.push(Row { name: format!("{}{name}", "  ".repeat(depth - 1)), kind, shape, params, flops });
    }

    /// Closes the innermost open node's row (none for the root) with its output shape `s`.
    fn close(&mut self, s: &[usize], flops: u64) {
        if let Some(i) = self.open.pop() {
            (self.rows[i].shape, self.rows[i].flops) = (s.to_vec(), flops);
        }
    }
}

impl<'a> Flow<'a> for Rows {
    type V = Vec<usize>;
    type Error = Error;

    fn leaf(&mut self, leaf: Leaf<'a>, input: Vec<usize>, depth: usize) -> Result<Vec<usize>> {
        let s = leaf.out_shape(&input)?;
        let (name, kind, params, flops) = describe(leaf, &input, &s);
        self.push(depth, name, kind, s.clone(), params, flops);
        Ok(s)
    }

    fn enter(&mut self, node: Node<'a>, x: Vec<usize>, depth: usize) -> Result<Vec<usize>> {
        if depth > 0 {
            let (name, kind) = match node {
                Node::Block(b) => (b.name.clone(), b.kind.to_string()),
                Node::Branches(b) => (String::new(), format!("{:?} of {} branches", b.join, b.branches.len())),
            };
            // an unnamed node is labelled by its kind, e.g. "(concat)"
            let name = if name.is_empty() { format!("({})", kind.split(' ').next().unwrap_or("").to_lowercase()) } else { name };
            self.open.push(self.rows.len());
            self.push(depth, name, kind, vec![], 0, 0);
        }
        Ok(x)
    }

    fn exit(&mut self, _: &'a Block, _: &Vec<usize>, out: Vec<usize>, _: usize) -> Result<Vec<usize>> {
        self.close(&out, 0);
        Ok(out)
    }

    fn join(&mut self, b: &'a Branches, _: &Vec<usize>, outs: Vec<Vec<usize>>, _: usize) -> Result<Vec<usize>> {
        let s = join_shape(b.join, &outs)?;
        let flops = if b.join == Join::Add { s[1..].iter().product::<usize>() as u64 } else { 0 };
        self.close(&s, flops);
        Ok(s)
    }
}

/// One row per node of the layer tree in execution order (the root block's children at the top
/// level).
pub fn rows(model: &Model) -> Result<Vec<Row>> {
    let mut rows = Rows::default();
    model.root.flow(&mut rows, model.in_shape(1), 0)?;
    Ok(rows.rows)
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
    let acts = model.activations();
    let linear = acts.iter().filter(|a| a.kind == super::layers::ActKind::Affine).count();
    let linear = if linear > 0 { format!(", {linear} of them linearised (no CKKS level)") } else { String::new() };
    out += &format!(
        "total: {} parameters, {:.3} GFLOP/image, {} activation layers{linear} (each x² costs the HE student multiplicative depth)\n",
        model.param_count(),
        rows.iter().map(|r| r.flops).sum::<u64>() as f64 / 1e9,
        acts.len()
    );
    Ok(out)
}
