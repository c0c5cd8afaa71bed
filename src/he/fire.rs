//! A fire module's expand branches as one convolution, for the export. SqueezeNet joins
//! act(expand1x1(s)) and act(expand3x3(s)) along channels; both convolutions read the same
//! tensor with stride 1 and "same" padding, so they are one convolution whose kernels are
//! zero-padded to the largest size (a 1×1 kernel at the centre of a 3×3 one, with padding 1,
//! gives the same outputs) and whose output channels are the two branches' in order. The batch
//! norms after them fold into its rows, and the two activations become one with per-channel
//! coefficients: exact, with one convolution, one activation and the Concat fewer, and the same
//! depth. The price is the 1×1 kernels' zero taps (8 of 9 weights of their rows; 491,520 zeros
//! in SqueezeNet 1.1 at full width), which a runtime that multiplies every weight pays. It applies where every branch is Conv → (BatchNorm) → activation and the activations
//! are all polynomials or all linearised (a mix would give linearised channels an x² term to
//! carry, which costs a level under runtimes that evaluate c2·x² + c1·x + c0 per layer).

use super::merge::{is_affine, Weights};
use crate::error::Result;
use crate::nn::layers::{ActKind, Activation, Conv, Join, Layer};
use crate::nn::tree::Branches;

/// The merged branches.
pub struct Fire<'a> {
    /// The branch with the largest kernel: its stride and padding are the merged convolution's.
    pub widest: &'a Conv,
    /// `<module>.expand`, from the branches' common name prefix.
    pub name: String,
    /// [Co_total, C, K, K], the batch norms folded in.
    pub w: Weights,
    /// Per output channel: [c0, c1, c2] of its branch's activation.
    pub coef: [Vec<f32>; 3],
    /// Every activation linearised (c0 + c1·x, to be folded into `w`).
    pub affine: bool,
}

/// A branch's Conv, its batch norm (if any) and its activation, when it has
/// exactly that shape with a stride-1 "same" convolution and a finished polynomial.
fn branch_parts(l: &Layer) -> Option<(&Conv, Option<&crate::nn::layers::BatchNorm>, &Activation)> {
    let Layer::Block(b) = l else { return None };
    let (conv, bn, act) = match b.layers.as_slice() {
        [Layer::Conv(c), Layer::Act(a)] => (c, None, a),
        [Layer::Conv(c), Layer::BatchNorm(n), Layer::Act(a)] => (c, Some(n), a),
        _ => return None,
    };
    let k = conv.w.value.shape()[2];
    let same = conv.stride == 1 && conv.w.value.shape()[3] == k && 2 * conv.pad + 1 == k;
    let poly = act.coef.is_some() && act.ratio >= 1.0;
    (same && poly).then_some((conv, bn, act))
}

/// The merged form of `b`, or None where it does not apply.
pub fn merge(b: &Branches) -> Result<Option<Fire<'_>>> {
    if b.join != Join::Concat || b.branches.len() < 2 {
        return Ok(None);
    }
    let Some(parts) = b.branches.iter().map(branch_parts).collect::<Option<Vec<_>>>() else { return Ok(None) };
    let affine = parts.iter().all(|(_, _, a)| is_affine(a));
    if !affine && parts.iter().any(|(_, _, a)| a.kind == ActKind::Affine) {
        return Ok(None);
    }
    let inputs: Vec<usize> = parts.iter().map(|(c, _, _)| c.w.value.shape()[1]).collect();
    if inputs.iter().any(|&c| c != inputs[0]) {
        return Ok(None);
    }
    let widest = parts.iter().map(|p| p.0).max_by_key(|c| c.w.value.shape()[2]).unwrap_or(parts[0].0);
    let k = widest.w.value.shape()[2];
    let (mut w, mut bias, mut coef) = (Vec::new(), Vec::new(), [Vec::new(), Vec::new(), Vec::new()]);
    for (conv, bn, act) in &parts {
        let mut ws = Weights::conv(conv)?;
        if let Some(bn) = bn {
            let (scale, shift) = bn.eval_affine()?;
            ws.then(&bn.name, &scale, &shift)?;
        }
        let (co, c, kc) = (ws.dims[0], ws.dims[1], ws.dims[2]);
        let m = (k - kc) / 2;
        for o in 0..co {
            for i in 0..c {
                let mut tap = vec![0.0; k * k];
                for y in 0..kc {
                    let row = &ws.w[((o * c + i) * kc + y) * kc..][..kc];
                    tap[(y + m) * k + m..][..kc].copy_from_slice(row);
                }
                w.extend(tap);
            }
        }
        bias.extend(&ws.b);
        let cs = act.coef.as_ref().map(|p| p.value.to_f32()).transpose()?.unwrap_or_default();
        for (j, all) in coef.iter_mut().enumerate() {
            all.extend(std::iter::repeat_n(cs[j], co));
        }
    }
    let co_total = bias.len();
    let names: Vec<&str> = parts.iter().map(|(c, _, _)| c.name.as_str()).collect();
    let prefix = names[0].rsplit_once('.').map_or("", |(p, _)| p);
    let name = if names.iter().all(|n| n.starts_with(prefix)) && !prefix.is_empty() { format!("{prefix}.expand") } else { format!("{}.merged", names[0]) };
    let w = Weights { w, dims: vec![co_total, inputs[0], k, k], b: bias };
    Ok(Some(Fire { widest, name, w, coef, affine }))
}
