//! The activations of `heft export --onnx` (`he::onnx`): c0 + c1·x + c2·x² as Mul/Add nodes
//! with the trained coefficients, per channel when a batch norm is folded into them.

use crate::error::{Error, Result};
use crate::nn::layers::{ActKind, Activation};
use super::proto::Graph;

/// [c0, c1, c2] of a finished polynomial or linearised activation.
pub(super) fn coefficients(a: &Activation) -> Result<Vec<f32>> {
    let coef = a.coef.as_ref().ok_or_else(|| Error::Invalid(format!("{} is a ReLU: export the HE-friendly student, not the teacher", a.name)))?;
    if a.ratio < 1.0 {
        return Err(Error::Invalid(format!("{} still blends in ReLU (ratio {}): finish the schedule first", a.name, a.ratio)));
    }
    coef.value.to_f32()
}

/// c0 + c1·x + c2·x² (c0 + c1·x when linearised), optionally followed by a per-channel affine
/// map (folded batch norm): coefficients become per channel, shaped [C, 1, 1] (4-D input) or
/// [C] (2-D input).
pub(super) fn poly(g: &mut Graph, x: &str, a: &Activation, affine: Option<(Vec<f32>, Vec<f32>)>, rank: usize) -> Result<String> {
    let c = coefficients(a)?;
    let (cs, dims): ([Vec<f32>; 3], Vec<usize>) = match affine {
        None => ([vec![c[0]], vec![c[1]], vec![c[2]]], vec![1]),
        Some((scale, shift)) => {
            let n = scale.len();
            let per = |k: usize| (0..n).map(|i| scale[i] * c[k] + if k == 0 { shift[i] } else { 0.0 }).collect();
            ([per(0), per(1), per(2)], if rank == 4 { vec![n, 1, 1] } else { vec![n] })
        }
    };
    Ok(poly_nodes(g, x, &a.name, &cs, &dims, a.kind == ActKind::Affine))
}

/// The Mul/Add nodes of cs[0] + cs[1]·x (+ cs[2]·x² unless `linear`), coefficients of shape
/// `dims`, named after `name`.
pub(super) fn poly_nodes(g: &mut Graph, x: &str, name: &str, cs: &[Vec<f32>; 3], dims: &[usize], linear: bool) -> String {
    let c0 = g.init(&format!("{name}.c0"), dims, &cs[0]);
    let c1 = g.init(&format!("{name}.c1"), dims, &cs[1]);
    if linear {
        let t1 = g.node("Mul", &[x, &c1], vec![], name);
        return g.node("Add", &[&t1, &c0], vec![], name);
    }
    let c2 = g.init(&format!("{name}.c2"), dims, &cs[2]);
    let sq = g.node("Mul", &[x, x], vec![], name);
    let t2 = g.node("Mul", &[&sq, &c2], vec![], name);
    let t1 = g.node("Mul", &[x, &c1], vec![], name);
    let s = g.node("Add", &[&t2, &t1], vec![], name);
    g.node("Add", &[&s, &c0], vec![], name)
}
