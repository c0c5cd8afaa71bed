//! The merge rule that `he::depth` counts and `he::onnx` exports, and its arithmetic. A Conv or
//! Linear absorbs the affine maps after it (a finished linearised activation c0 + c1·x, a batch
//! norm, dropout); a Linear reached from a Linear through only such maps merges into it, and so
//! does a 1×1 stride-1 unpadded convolution reached from a convolution: one layer, one CKKS
//! level. Nothing merges across a block's or a branch's edge (both flows end the chain there).

use crate::error::{Error, Result};
use crate::nn::layers::{ActKind, Activation, Conv, Leaf, Linear};

/// The kind of layer a chain of merged layers and absorbed maps starts with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Chain {
    Linear,
    Conv,
}

/// What a leaf does to the chain before it.
pub(super) enum Step {
    /// A Conv or Linear that does not merge: it starts a chain of its own.
    Start(Chain),
    /// A Linear after a Linear, or a 1×1 stride-1 unpadded convolution after a convolution:
    /// it merges into the chain's layer.
    Merge,
    /// An affine map the chain's layer absorbs (nothing happens without a chain).
    Absorb,
    /// Anything else: the chain ends.
    End,
}

/// A finished linearised activation: c0 + c1·x, nothing of ReLU left.
pub(super) fn is_affine(a: &Activation) -> bool {
    a.kind == ActKind::Affine && a.coef.is_some() && a.ratio >= 1.0
}

/// What `leaf` does after a chain of kind `chain` (None: no chain).
pub(super) fn step(chain: Option<Chain>, leaf: Leaf) -> Step {
    match leaf {
        Leaf::Linear(_) if chain == Some(Chain::Linear) => Step::Merge,
        Leaf::Conv(c) if chain == Some(Chain::Conv) && c.w.value.shape()[2..] == [1, 1] && c.stride == 1 && c.pad == 0 => Step::Merge,
        Leaf::Linear(_) => Step::Start(Chain::Linear),
        Leaf::Conv(_) => Step::Start(Chain::Conv),
        Leaf::Act(a) if is_affine(a) => Step::Absorb,
        Leaf::BatchNorm(_) | Leaf::Dropout(_) => Step::Absorb,
        Leaf::Act(_) | Leaf::Pool(_) | Leaf::Flatten => Step::End,
    }
}

/// A Conv's or Linear's weights (shape `dims`, output channels first) and bias, as written.
#[derive(Clone)]
pub(crate) struct Weights {
    pub w: Vec<f32>,
    pub dims: Vec<usize>,
    pub b: Vec<f32>,
}

impl Weights {
    pub fn conv(c: &Conv) -> Result<Weights> {
        if c.relu {
            return Err(Error::Invalid(format!("{} has a ReLU fused into it: export the HE-friendly student, not the teacher", c.name)));
        }
        Weights::of(&c.name, c.w.value.to_f32()?, c.w.value.shape(), c.b.as_ref().map(|b| b.value.to_f32()).transpose()?)
    }

    pub fn linear(l: &Linear) -> Result<Weights> {
        Weights::of(&l.name, l.w.value.to_f32()?, l.w.value.shape(), l.b.as_ref().map(|b| b.value.to_f32()).transpose()?)
    }

    fn of(name: &str, w: Vec<f32>, dims: &[usize], b: Option<Vec<f32>>) -> Result<Weights> {
        let b = b.unwrap_or(vec![0.0; dims[0]]);
        if b.len() != dims[0] {
            return Err(Error::Invalid(format!("{name}: {} biases for {} output channels", b.len(), dims[0])));
        }
        Ok(Weights { w, dims: dims.to_vec(), b })
    }

    /// Followed by y = scale·x + shift per output channel (one scale for all: `[s]`), folded in.
    /// In f32, as batch norms have always been folded (so an export without linearised
    /// activations stays byte for byte what it was).
    pub fn then(&mut self, what: &str, scale: &[f32], shift: &[f32]) -> Result<()> {
        let co = self.dims[0];
        let at = |v: &[f32], o: usize| if v.len() == 1 { v[0] } else { v[o] };
        if ![scale.len(), shift.len()].iter().all(|&n| n == 1 || n == co) {
            return Err(Error::Invalid(format!("{what} has {} channels, the layer before it {co}: it cannot be folded", scale.len())));
        }
        let per = self.w.len() / co;
        for o in 0..co {
            self.w[o * per..(o + 1) * per].iter_mut().for_each(|x| *x *= at(scale, o));
            self.b[o] = self.b[o] * at(scale, o) + at(shift, o);
        }
        Ok(())
    }

    /// Followed by `next`, a Linear or a 1×1 convolution reading these outputs: one layer,
    /// W = W_next·W and b = W_next·b + b_next, summed in f64 from the f32 weights.
    pub fn merge(&self, what: &str, next: &Weights) -> Result<Weights> {
        let (m, o) = (self.dims[0], next.dims[0]);
        if next.w.len() != o * m {
            return Err(Error::Invalid(format!("{what} reads {} inputs per output, not the {m} channels before it: it cannot be merged", next.w.len() / o)));
        }
        let per = self.w.len() / m;
        let mut w = vec![0.0; o * per];
        let mut b = Vec::with_capacity(o);
        for r in 0..o {
            let row = &next.w[r * m..(r + 1) * m];
            let mut acc = vec![0.0f64; per];
            for (k, &a) in row.iter().enumerate() {
                acc.iter_mut().zip(&self.w[k * per..(k + 1) * per]).for_each(|(s, &x)| *s += a as f64 * x as f64);
            }
            w[r * per..(r + 1) * per].iter_mut().zip(&acc).for_each(|(y, &s)| *y = s as f32);
            b.push((next.b[r] as f64 + row.iter().zip(&self.b).map(|(&a, &x)| a as f64 * x as f64).sum::<f64>()) as f32);
        }
        Ok(Weights { w, dims: [&[o][..], &self.dims[1..]].concat(), b })
    }
}
