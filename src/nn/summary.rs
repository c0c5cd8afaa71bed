//! `heft summary`: layers, output shapes, parameters and FLOPs of a model, and the number of
//! activation layers (each polynomial activation costs the student one or more CKKS levels).

use super::layers::{Layer, Fire};
use super::model::Model;
use crate::error::Result;
use crate::ops::avgpool::AvgPool;

pub struct Row {
    pub name: String,
    pub kind: String,
    pub shape: Vec<usize>,
    pub params: usize,
    /// Floating-point operations for one image (multiply-add = 2).
    pub flops: u64,
}

fn conv_flops(w: &[usize], out: &[usize]) -> u64 {
    2 * (w.iter().product::<usize>() * out[2] * out[3]) as u64
}

fn fire_flops(f: &Fire, out: &[usize], input: &[usize]) -> u64 {
    let sq = f.squeeze.w.value.shape();
    let hw = (input[2] * input[3]) as u64;
    2 * hw * (sq.iter().product::<usize>() + f.expand1.w.value.numel() + f.expand3.w.value.numel()) as u64 + out[1] as u64 * hw
}

pub fn rows(model: &Model) -> Result<Vec<Row>> {
    let shapes = model.shapes(1)?;
    let mut prev = vec![1, model.config.in_channels, model.config.input, model.config.input];
    let mut rows = Vec::new();
    for (l, s) in model.layers.iter().zip(&shapes) {
        let numel: usize = s.iter().product();
        let (name, kind, params, flops) = match l {
            Layer::Conv(c) => {
                let w = c.w.value.shape();
                (c.name.clone(), format!("Conv {}x{} s{} p{}", w[2], w[3], c.stride, c.pad), c.w.value.numel() + w[0], conv_flops(w, s))
            }
            Layer::Linear(f) => {
                let w = f.w.value.shape();
                (f.name.clone(), "Linear".into(), f.w.value.numel() + w[0], 2 * f.w.value.numel() as u64)
            }
            Layer::Act(a) => {
                let kind = if a.coef.is_some() { format!("{:?} (ratio {})", a.kind, a.ratio) } else { "ReLU".into() };
                (a.name.clone(), kind, a.coef.as_ref().map_or(0, |c| c.value.numel()), 4 * numel as u64)
            }
            Layer::MaxPool(p) => ("".into(), format!("MaxPool {} s{}{}", p.kernel, p.stride, if p.ceil { " ceil" } else { "" }), 0, (p.kernel * p.kernel * numel) as u64),
            Layer::AvgPool(AvgPool::Window(p)) => ("".into(), format!("AvgPool {} s{}{}", p.kernel, p.stride, if p.ceil { " ceil" } else { "" }), 0, (p.kernel * p.kernel * numel) as u64),
            Layer::AvgPool(AvgPool::Adaptive(h, w)) => ("".into(), format!("AdaptiveAvgPool {h}x{w}"), 0, prev.iter().product::<usize>() as u64),
            Layer::BatchNorm(b) => (b.name.clone(), "BatchNorm".into(), 2 * s[1], 2 * numel as u64),
            Layer::Dropout(p) => ("".into(), format!("Dropout {p}"), 0, 0),
            Layer::Flatten => ("".into(), "Flatten".into(), 0, 0),
            Layer::Fire(f) => {
                let params = [&f.squeeze, &f.expand1, &f.expand3].iter().map(|c| c.w.value.numel() + c.out_channels()).sum::<usize>()
                    + [&f.squeeze_act, &f.expand1_act, &f.expand3_act].iter().filter_map(|a| a.coef.as_ref()).map(|c| c.value.numel()).sum::<usize>()
                    + f.bn.iter().flat_map(|b| b.iter()).map(|b| 2 * b.gamma.value.numel()).sum::<usize>();
                let name = f.squeeze.name.trim_end_matches(".squeeze").to_string();
                let kind = if f.bn.is_some() { "Fire (3 conv+BN, 3 act)" } else { "Fire (3 conv, 3 act)" };
                (name, kind.into(), params, fire_flops(f, s, &prev))
            }
        };
        rows.push(Row { name, kind, shape: s.clone(), params, flops });
        prev = s.clone();
    }
    Ok(rows)
}

/// The printed summary.
pub fn format(model: &Model) -> Result<String> {
    let rows = rows(model)?;
    let c = &model.config;
    let mut out = format!(
        "{:?} {} — input {}x{}x{}, {} classes, width x{}{}\n",
        c.arch,
        if c.student.is_some() { "student" } else { "teacher" },
        c.in_channels,
        c.input,
        c.input,
        c.classes,
        c.width,
        if matches!(c.arch, super::model::Arch::Alexnet) { format!(", hidden {}", c.hidden) } else { String::new() }
    );
    out += &format!("{:<32} {:<26} {:>18} {:>12} {:>14}\n", "layer", "type", "output", "params", "FLOPs/image");
    for r in &rows {
        out += &format!("{:<32} {:<26} {:>18} {:>12} {:>14}\n", r.name, r.kind, format!("{:?}", &r.shape[1..]), r.params, r.flops);
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
