//! How layers compose: a model is a tree whose leaves are the layers of `nn::layers` and whose
//! inner nodes are a `Block` (children in sequence) or `Branches` (children side by side on the
//! same input, joined by channel concatenation or by addition). SqueezeNet's fire module is a
//! block ending in two concatenated branches; a ResNet block is an addition of a body and a
//! shortcut. Everything that visits a model (parameters, batch norms, activations, shapes, the
//! forward pass, summary, HE depth, ONNX export, the student conversion) recurses through the
//! two inner node kinds here and nowhere else decides what a block is.

use super::layers::{Activation, BatchNorm, Conv, Linear, Pool2d, PoolKind};
use crate::error::{Error, Result};
use crate::nn::functional as F;
use crate::tape::{Param, Tape, Var};

pub enum Layer {
    Conv(Conv),
    Linear(Linear),
    Act(Activation),
    Pool(Pool2d),
    BatchNorm(BatchNorm),
    Dropout(f32),
    Flatten,
    Block(Block),
    Branches(Branches),
}

/// Children applied in order (torch.nn.Sequential). `name` and `kind` label it in the summary
/// and the HE report (e.g. `features.3`, "Fire"); the children carry their own full names.
pub struct Block {
    pub name: String,
    pub kind: &'static str,
    pub layers: Vec<Layer>,
}

/// How the outputs of parallel branches become one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// Along channels, in branch order (SqueezeNet's expand 1×1 ‖ expand 3×3).
    Concat,
    /// Element-wise sum (a residual connection; an empty block is the identity shortcut).
    Add,
}

/// Every branch takes the same input.
pub struct Branches {
    pub join: Join,
    pub branches: Vec<Layer>,
}


/// How a forward pass runs.
pub struct Ctx {
    pub training: bool,
    /// Seed of this step's dropout masks.
    pub seed: u32,
    /// Dropout layers met so far in this pass (each gets its own mask).
    pub dropouts: u32,
    /// When set, the input of every activation is kept here (range statistics, range loss).
    pub act_inputs: Option<Vec<(String, Var)>>,
    /// When set, the output of every leaf and join is kept here (largest intermediate value).
    pub outputs: Option<Vec<Var>>,
}

impl Ctx {
    pub fn eval() -> Ctx {
        Ctx { training: false, seed: 0, dropouts: 0, act_inputs: None, outputs: None }
    }
    pub fn train(seed: u32) -> Ctx {
        Ctx { training: true, seed, ..Ctx::eval() }
    }
}

impl Layer {
    /// A block: `layers` in sequence.
    pub fn block(name: &str, kind: &'static str, layers: Vec<Layer>) -> Layer {
        Layer::Block(Block { name: name.into(), kind, layers })
    }

    /// Branches on the same input, joined by `join`.
    pub fn branches(join: Join, branches: Vec<Layer>) -> Layer {
        Layer::Branches(Branches { join, branches })
    }

    /// The inner nodes' children (none for a leaf).
    pub fn children(&self) -> &[Layer] {
        match self {
            Layer::Block(b) => &b.layers,
            Layer::Branches(b) => &b.branches,
            _ => &[],
        }
    }

    pub fn is_leaf(&self) -> bool {
        !matches!(self, Layer::Block(_) | Layer::Branches(_))
    }

    /// Every node of the tree, depth first in execution order, with its depth below `self`.
    pub fn walk<'a>(&'a self, depth: usize, f: &mut dyn FnMut(&'a Layer, usize)) {
        f(self, depth);
        for c in self.children() {
            c.walk(depth + 1, f);
        }
    }

    /// Every leaf, in execution order, mutably.
    pub fn leaves_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Layer>) {
        match self {
            Layer::Block(b) => b.layers.iter_mut().for_each(|c| c.leaves_mut(out)),
            Layer::Branches(b) => b.branches.iter_mut().for_each(|c| c.leaves_mut(out)),
            leaf => out.push(leaf),
        }
    }

    /// This leaf's trainable tensors (none for an inner node: its children hold them).
    pub fn own_params(&self) -> Vec<&Param> {
        match self {
            Layer::Conv(c) => [Some(&c.w), c.b.as_ref()].into_iter().flatten().collect(),
            Layer::Linear(l) => [Some(&l.w), l.b.as_ref()].into_iter().flatten().collect(),
            Layer::Act(a) => a.coef.iter().collect(),
            Layer::BatchNorm(b) => vec![&b.gamma, &b.beta],
            _ => vec![],
        }
    }

    /// Output shape for an input of shape `s` (batch first).
    pub fn out_shape(&self, s: &[usize]) -> Result<Vec<usize>> {
        const OP: &str = "model";
        let spatial = |f: &dyn Fn(usize) -> Result<usize>| -> Result<Vec<usize>> {
            if s.len() != 4 {
                return Err(Error::shape(OP, format!("a spatial layer needs [N, C, H, W], gets {s:?}")));
            }
            Ok(vec![s[0], s[1], f(s[2])?, f(s[3])?])
        };
        Ok(match self {
            Layer::Conv(c) => {
                let ws = c.w.value.shape();
                if s.len() != 4 || s[1] != ws[1] {
                    return Err(Error::shape(OP, format!("{} expects {} channels, gets {s:?}", c.name, ws[1])));
                }
                let mut o = spatial(&|n| crate::ops::out_size(OP, n, ws[2], c.stride, c.pad))?;
                o[1] = ws[0];
                o
            }
            Layer::Linear(l) => {
                let ws = l.w.value.shape();
                if s.len() != 2 || s[1] != ws[1] {
                    return Err(Error::shape(OP, format!("{} expects {} features, gets {s:?}", l.name, ws[1])));
                }
                vec![s[0], ws[0]]
            }
            Layer::Pool(p) => match p.kind {
                PoolKind::Max(w) | PoolKind::Avg(w) => spatial(&|n| w.out(OP, n))?,
                PoolKind::GlobalAvg => spatial(&|_| Ok(1))?,
            },
            Layer::Flatten => vec![s[0], s[1..].iter().product()],
            Layer::Act(_) | Layer::BatchNorm(_) | Layer::Dropout(_) => s.to_vec(),
            Layer::Block(b) => b.layers.iter().try_fold(s.to_vec(), |s, l| l.out_shape(&s))?,
            Layer::Branches(b) => {
                let outs = b.branches.iter().map(|l| l.out_shape(s)).collect::<Result<Vec<_>>>()?;
                join_shape(b.join, &outs)?
            }
        })
    }

    pub fn forward(&self, tape: &mut Tape, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let y = match self {
            Layer::Conv(c) => c.forward(tape, x)?,
            Layer::Linear(l) => l.forward(tape, x)?,
            Layer::Act(a) => {
                if let Some(v) = ctx.act_inputs.as_mut() {
                    v.push((a.name.clone(), x.clone()));
                }
                a.forward(tape, x)?
            }
            Layer::Pool(p) => p.forward(tape, x)?,
            Layer::BatchNorm(bn) => bn.forward(tape, x, ctx.training)?,
            Layer::Dropout(p) if ctx.training && *p > 0.0 => {
                ctx.dropouts += 1;
                F::dropout(tape, x, *p, ctx.seed.wrapping_mul(2654435761).wrapping_add(ctx.dropouts))?
            }
            Layer::Dropout(_) => return Ok(x.clone()),
            Layer::Flatten => F::flatten(tape, x)?,
            Layer::Block(b) => {
                let mut h = x.clone();
                for l in &b.layers {
                    h = l.forward(tape, &h, ctx)?;
                }
                return Ok(h);
            }
            Layer::Branches(b) => {
                let outs = b.branches.iter().map(|l| l.forward(tape, x, ctx)).collect::<Result<Vec<_>>>()?;
                join_shape(b.join, &outs.iter().map(|v| v.shape().to_vec()).collect::<Vec<_>>())?;
                match b.join {
                    Join::Concat => F::concat(tape, &outs.iter().collect::<Vec<_>>())?,
                    Join::Add => {
                        let mut sum = outs[0].clone();
                        for o in &outs[1..] {
                            sum = F::add(tape, &sum, o, 1.0, 1.0)?;
                        }
                        sum
                    }
                }
            }
        };
        if let Some(o) = ctx.outputs.as_mut() {
            o.push(y.clone());
        }
        Ok(y)
    }
}

/// The shape branches of `outs` join into: same batch and spatial size, channels summed
/// (concat) or every shape equal (add).
fn join_shape(join: Join, outs: &[Vec<usize>]) -> Result<Vec<usize>> {
    let first = outs.first().ok_or_else(|| Error::Invalid("a branch node needs at least one branch".into()))?;
    let fits = |o: &Vec<usize>| match join {
        Join::Concat => o.len() == 4 && first.len() == 4 && o[0] == first[0] && o[2..] == first[2..],
        Join::Add => o == first,
    };
    if !outs.iter().all(fits) {
        return Err(Error::shape("model", format!("branches of shapes {outs:?} cannot be joined by {join:?}")));
    }
    let mut s = first.clone();
    if join == Join::Concat {
        s[1] = outs.iter().map(|o| o[1]).sum();
    }
    Ok(s)
}
