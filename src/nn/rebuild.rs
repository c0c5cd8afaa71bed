//! A new layer tree from an old one, leaf by leaf: the blocks and branches keep their shape
//! and names, and each leaf becomes the layers a mapping gives for it (none, one, or several
//! in sequence). The mapping sees the leaf, its output shape and the layer written just before
//! it in the same sequence, which it may change (a batch norm folded into that convolution).
//! The student conversion (`convert`) and the distillation teacher (`fold`) are such mappings.

use super::tree::{join_shape, Block, Branches, Flow, Layer, Leaf, Node};
use crate::error::{Error, Result};

/// What a leaf becomes: `(leaf, its output shape, the layer before it in its sequence)`.
pub trait Mapping<'a> {
    fn map(&mut self, leaf: Leaf<'a>, out_shape: &[usize], before: Option<&mut Layer>) -> Result<Vec<Layer>>;
}

struct Rebuild<M> {
    map: M,
    /// Per open inner node: whether it is a branch node, and its children so far.
    open: Vec<(bool, Vec<Layer>)>,
}

impl<M> Rebuild<M> {
    fn add(&mut self, mut layers: Vec<Layer>) {
        let Some((branches, children)) = self.open.last_mut() else { return };
        match (*branches, layers.len()) {
            (true, 1) => children.push(layers.remove(0)),
            (true, _) => children.push(Layer::block("", "Sequential", layers)),
            (false, _) => children.extend(layers),
        }
    }
}

impl<'a, M: Mapping<'a>> Flow<'a> for Rebuild<M> {
    type V = Vec<usize>;
    type Error = Error;

    fn leaf(&mut self, l: Leaf<'a>, shape: Vec<usize>, _: usize) -> Result<Vec<usize>> {
        let next = l.out_shape(&shape)?;
        let before = match self.open.last_mut() {
            Some((false, children)) => children.last_mut(),
            _ => None,
        };
        let layers = self.map.map(l, &next, before)?;
        self.add(layers);
        Ok(next)
    }

    fn enter(&mut self, node: Node<'a>, shape: Vec<usize>, _: usize) -> Result<Vec<usize>> {
        self.open.push((matches!(node, Node::Branches(_)), Vec::new()));
        Ok(shape)
    }

    fn exit(&mut self, b: &'a Block, _: &Vec<usize>, out: Vec<usize>, _: usize) -> Result<Vec<usize>> {
        let (_, layers) = self.open.pop().unwrap_or_default();
        self.add(vec![Layer::block(&b.name, b.kind, layers)]);
        Ok(out)
    }

    fn join(&mut self, b: &'a Branches, _: &Vec<usize>, outs: Vec<Vec<usize>>, _: usize) -> Result<Vec<usize>> {
        let (_, branches) = self.open.pop().unwrap_or_default();
        self.add(vec![Layer::branches(b.join, branches)]);
        join_shape(b.join, &outs)
    }
}

/// The tree `root` becomes under `map`, for an input of shape `in_shape`.
pub fn rebuild<'a>(root: &'a Layer, in_shape: Vec<usize>, map: impl Mapping<'a>) -> Result<Layer> {
    // the root's copy lands in an outer sequence of its own
    let mut r = Rebuild { map, open: vec![(false, Vec::new())] };
    root.flow(&mut r, in_shape, 0)?;
    r.open.pop().and_then(|(_, mut l)| l.pop()).ok_or_else(|| Error::Invalid("the model has no layers".into()))
}
