//! How layers compose: a model is a tree whose leaves are the layers of `nn::layers` and whose
//! inner nodes are a `Block` (children in sequence) or `Branches` (children side by side on the
//! same input, joined by channel concatenation or by addition). SqueezeNet's fire module is a
//! block ending in two concatenated branches; a ResNet block is an addition of a body and a
//! shortcut. `Layer::flow` is the one recursion through the tree: everything that visits a model
//! (the forward pass, shapes, leaves, summary, HE depth, ONNX export, the student conversion) is
//! a `Flow`, a fold of a value from the input through the tree, and nowhere else decides what a
//! block is. `leaves_mut` is its mutable counterpart (Rust cannot share one walk between `&`
//! and `&mut`).

use super::layers::{Activation, BatchNorm, Conv, Linear, Pool2d, PoolKind};
use crate::error::{Error, Result};
use crate::tape::Param;

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

/// A leaf layer, as `Flow::leaf` sees it.
#[derive(Clone, Copy)]
pub enum Leaf<'a> {
    Conv(&'a Conv),
    Linear(&'a Linear),
    Act(&'a Activation),
    Pool(&'a Pool2d),
    BatchNorm(&'a BatchNorm),
    Dropout(f32),
    Flatten,
}

/// An inner node, as `Flow::enter` sees it.
#[derive(Clone, Copy)]
pub enum Node<'a> {
    Block(&'a Block),
    Branches(&'a Branches),
}

/// A fold over the layer tree, carrying a value `V` (a tensor, a shape, a depth, a graph value...)
/// from a node's input to its output: through a block's children in turn, into every branch of
/// a branch node and out of their join. `depth` counts the nodes above, from the one `flow`
/// started at (0).
pub trait Flow<'a> {
    type V: Clone;
    type Error;
    /// A leaf's output for input `x`.
    fn leaf(&mut self, leaf: Leaf<'a>, x: Self::V, depth: usize) -> Result<Self::V, Self::Error>;
    /// A branch node's output: its branches' outputs `outs` joined (`x`: their common input).
    fn join(&mut self, b: &'a Branches, x: &Self::V, outs: Vec<Self::V>, depth: usize) -> Result<Self::V, Self::Error>;
    /// Before an inner node's children: what they get for the node's input `x`.
    fn enter(&mut self, _node: Node<'a>, x: Self::V, _depth: usize) -> Result<Self::V, Self::Error> {
        Ok(x)
    }
    /// After a block's children: its output, given its input `x` and its last child's output.
    fn exit(&mut self, _b: &'a Block, _x: &Self::V, out: Self::V, _depth: usize) -> Result<Self::V, Self::Error> {
        Ok(out)
    }
}

/// Output shapes (batch first).
struct Shapes;

impl<'a> Flow<'a> for Shapes {
    type V = Vec<usize>;
    type Error = Error;
    fn leaf(&mut self, leaf: Leaf<'a>, s: Vec<usize>, _: usize) -> Result<Vec<usize>> {
        leaf.out_shape(&s)
    }
    fn join(&mut self, b: &'a Branches, _: &Vec<usize>, outs: Vec<Vec<usize>>, _: usize) -> Result<Vec<usize>> {
        join_shape(b.join, &outs)
    }
}

/// The leaves in execution order.
struct Leaves<'a>(Vec<Leaf<'a>>);

impl<'a> Flow<'a> for Leaves<'a> {
    type V = ();
    type Error = std::convert::Infallible;
    fn leaf(&mut self, leaf: Leaf<'a>, _: (), _: usize) -> Result<(), Self::Error> {
        self.0.push(leaf);
        Ok(())
    }
    fn join(&mut self, _: &'a Branches, _: &(), _: Vec<()>, _: usize) -> Result<(), Self::Error> {
        Ok(())
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

    /// `f`'s fold of `x` through this node at `depth` (see `Flow`).
    pub fn flow<'a, F: Flow<'a>>(&'a self, f: &mut F, x: F::V, depth: usize) -> Result<F::V, F::Error> {
        let leaf = match self {
            Layer::Block(b) => {
                let x = f.enter(Node::Block(b), x, depth)?;
                let out = b.layers.iter().try_fold(x.clone(), |h, l| l.flow(f, h, depth + 1))?;
                return f.exit(b, &x, out, depth);
            }
            Layer::Branches(b) => {
                let x = f.enter(Node::Branches(b), x, depth)?;
                let outs = b.branches.iter().map(|l| l.flow(f, x.clone(), depth + 1)).collect::<Result<Vec<_>, _>>()?;
                return f.join(b, &x, outs, depth);
            }
            Layer::Conv(c) => Leaf::Conv(c),
            Layer::Linear(l) => Leaf::Linear(l),
            Layer::Act(a) => Leaf::Act(a),
            Layer::Pool(p) => Leaf::Pool(p),
            Layer::BatchNorm(b) => Leaf::BatchNorm(b),
            Layer::Dropout(p) => Leaf::Dropout(*p),
            Layer::Flatten => Leaf::Flatten,
        };
        f.leaf(leaf, x, depth)
    }

    /// Every leaf, in execution order.
    pub fn leaves(&self) -> Vec<Leaf<'_>> {
        let mut found = Leaves(Vec::new());
        let Ok(()) = self.flow(&mut found, (), 0);
        found.0
    }

    /// Every leaf, in execution order, mutably.
    pub fn leaves_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Layer>) {
        match self {
            Layer::Block(b) => b.layers.iter_mut().for_each(|c| c.leaves_mut(out)),
            Layer::Branches(b) => b.branches.iter_mut().for_each(|c| c.leaves_mut(out)),
            leaf => out.push(leaf),
        }
    }

    /// Output shape for an input of shape `s` (batch first).
    pub fn out_shape(&self, s: &[usize]) -> Result<Vec<usize>> {
        self.flow(&mut Shapes, s.to_vec(), 0)
    }
}

impl<'a> Leaf<'a> {
    /// This leaf's trainable tensors.
    pub fn params(self) -> Vec<&'a Param> {
        match self {
            Leaf::Conv(c) => [Some(&c.w), c.b.as_ref()].into_iter().flatten().collect(),
            Leaf::Linear(l) => [Some(&l.w), l.b.as_ref()].into_iter().flatten().collect(),
            Leaf::Act(a) => a.coef.iter().collect(),
            Leaf::BatchNorm(b) => vec![&b.gamma, &b.beta],
            _ => vec![],
        }
    }

    /// Output shape for an input of shape `s` (batch first).
    pub fn out_shape(self, s: &[usize]) -> Result<Vec<usize>> {
        const OP: &str = "model";
        let spatial = |f: &dyn Fn(usize) -> Result<usize>| -> Result<Vec<usize>> {
            if s.len() != 4 {
                return Err(Error::shape(OP, format!("a spatial layer needs [N, C, H, W], gets {s:?}")));
            }
            Ok(vec![s[0], s[1], f(s[2])?, f(s[3])?])
        };
        Ok(match self {
            Leaf::Conv(c) => {
                let ws = c.w.value.shape();
                if s.len() != 4 || s[1] != ws[1] {
                    return Err(Error::shape(OP, format!("{} expects {} channels, gets {s:?}", c.name, ws[1])));
                }
                let mut o = spatial(&|n| crate::ops::out_size(OP, n, ws[2], c.stride, c.pad))?;
                o[1] = ws[0];
                o
            }
            Leaf::Linear(l) => {
                let ws = l.w.value.shape();
                if s.len() != 2 || s[1] != ws[1] {
                    return Err(Error::shape(OP, format!("{} expects {} features, gets {s:?}", l.name, ws[1])));
                }
                vec![s[0], ws[0]]
            }
            Leaf::Pool(p) => match p.kind {
                PoolKind::Max(w) | PoolKind::Avg(w) => spatial(&|n| w.out(OP, n))?,
                PoolKind::GlobalAvg => spatial(&|_| Ok(1))?,
            },
            Leaf::Flatten => vec![s[0], s[1..].iter().product()],
            Leaf::Act(_) | Leaf::BatchNorm(_) | Leaf::Dropout(_) => s.to_vec(),
        })
    }
}

/// The shape branches of `outs` join into: same batch and spatial size, channels summed
/// (concat) or every shape equal (add).
pub(crate) fn join_shape(join: Join, outs: &[Vec<usize>]) -> Result<Vec<usize>> {
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
