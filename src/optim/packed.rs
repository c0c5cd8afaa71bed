//! The optimiser's arenas: a model's parameters packed side by side into one buffer (a new one
//! whenever the next would pass one storage binding), their gradients and their optimiser state
//! laid out alike in buffers of the same size. An update then runs one dispatch per run of
//! neighbouring parameters that step alike (same learning rate, same step count, all with a
//! gradient) instead of one per parameter: the SqueezeNet 1.1 student's 128 Adam dispatches
//! become 2. The parameters stay where they were for everything else: each `Param::value` is a
//! view of its arena and each `Param::slot` the view its gradient is written into.
//!
//! Layout: each parameter starts on the storage offset alignment and the gaps between them are
//! zero in every arena, so an update over a run leaves them zero. A batch norm's beta lies right
//! before its gamma (its backward writes both channel sums in one pass,
//! `batchnorm::backward_into`); activation coefficients come after everything else (they have
//! their own learning rate). A parameter over one binding keeps its own buffer.

use crate::error::{Error, Result};
use crate::nn::model::Model;
use crate::nn::tree::Leaf;
use crate::tape::{Param, ParamId, ParamKind};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// One parameter's place in its arena.
pub struct Seg {
    pub id: ParamId,
    /// First element and element count.
    pub start: usize,
    pub numel: usize,
}

/// Values, gradients and optimiser state of the parameters in `segs`, each one buffer.
pub struct Arena {
    pub value: Tensor,
    pub grad: Tensor,
    pub state: Vec<Tensor>,
    pub segs: Vec<Seg>,
}

impl Arena {
    /// Views of `t` (one of this arena's buffers) over segments `first..=last`, gaps included.
    pub fn run(&self, t: &Tensor, first: usize, last: usize) -> Result<Tensor> {
        let (a, b) = (&self.segs[first], &self.segs[last]);
        t.view(a.start, &[b.start + b.numel - a.start])
    }
}

pub struct Packed {
    pub arenas: Vec<Arena>,
    /// Parameter → (arena, segment).
    pub index: HashMap<ParamId, (usize, usize)>,
}

impl Packed {
    /// Pack `model`'s parameters, with `per` state tensors each (2 for Adam, 1 for SGD), all
    /// zero; the values are copied in and each parameter's value and slot become views.
    pub fn new(model: &mut Model, per: usize) -> Result<Packed> {
        let order = layout(model);
        let Some(first) = model.params().first().map(|p| p.value.gpu().clone()) else {
            return Ok(Packed { arenas: Vec::new(), index: HashMap::new() });
        };
        let gpu = &first;
        let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
        let cap = gpu.chunk_elems();
        // segments per arena, each parameter at the next aligned element
        let mut plans: Vec<Vec<Seg>> = vec![Vec::new()];
        let mut end: usize = 0;
        for (id, numel) in order {
            if numel > cap {
                continue; // its own buffer, updated alone
            }
            let mut start = end.next_multiple_of(align);
            if start + numel > cap {
                plans.push(Vec::new());
                start = 0;
            }
            plans.last_mut().expect("one plan at least").push(Seg { id, start, numel });
            end = start + numel;
        }
        let mut arenas = Vec::new();
        let mut index = HashMap::new();
        for segs in plans.into_iter().filter(|s| !s.is_empty()) {
            let len = segs.last().map_or(0, |s| s.start + s.numel);
            let zeros = || Tensor::zeros(gpu, &[len]);
            let arena = Arena { value: zeros()?, grad: zeros()?, state: (0..per).map(|_| zeros()).collect::<Result<_>>()?, segs };
            for (i, s) in arena.segs.iter().enumerate() {
                index.insert(s.id, (arenas.len(), i));
            }
            arenas.push(arena);
        }
        let packed = Packed { arenas, index };
        for p in model.params_mut() {
            let Some((value, slot)) = packed.views(p)? else { continue };
            value.copy_from(&p.value)?;
            p.value = value;
            p.slot = Some(slot);
        }
        Ok(packed)
    }

    /// The arena and segment of a packed parameter.
    fn place(&self, id: ParamId) -> Option<(&Arena, &Seg)> {
        let &(a, s) = self.index.get(&id)?;
        Some((&self.arenas[a], &self.arenas[a].segs[s]))
    }

    /// Views of `t` (one of `id`'s arena's buffers, picked by `pick`) over `id`'s elements, in
    /// `shape`.
    fn view_of(&self, id: ParamId, shape: &[usize], pick: impl Fn(&Arena) -> &Tensor) -> Result<Option<Tensor>> {
        let Some((arena, seg)) = self.place(id) else { return Ok(None) };
        pick(arena).view(seg.start, shape).map(Some)
    }

    /// A packed parameter's value and gradient-slot views (None when it is not packed).
    fn views(&self, p: &Param) -> Result<Option<(Tensor, Tensor)>> {
        let (Some(v), Some(g)) = (self.view_of(p.id, p.value.shape(), |a| &a.value)?, self.view_of(p.id, p.value.shape(), |a| &a.grad)?) else {
            return Ok(None);
        };
        Ok(Some((v, g)))
    }

    /// Views of a packed parameter's state tensors, in `shape` (`[]`: flat).
    pub fn state_of(&self, id: ParamId, shape: &[usize]) -> Result<Option<Vec<Tensor>>> {
        let Some((arena, seg)) = self.place(id) else { return Ok(None) };
        let flat = [seg.numel];
        let shape = if shape.is_empty() { &flat[..] } else { shape };
        if shape.iter().product::<usize>() != seg.numel {
            return Err(Error::shape("optimiser state", format!("{shape:?} for a parameter of {} elements", seg.numel)));
        }
        arena.state.iter().map(|t| t.view(seg.start, shape)).collect::<Result<Vec<_>>>().map(Some)
    }

    /// Checks that `p`, if packed, still lives in its arena (its value was not replaced by a
    /// new tensor after packing, which the update would no longer reach).
    pub fn check(&self, p: &Param) -> Result<()> {
        let Some((arena, seg)) = self.place(p.id) else { return Ok(()) };
        let live = arena.value.view(seg.start, &[seg.numel])?;
        if !p.value.same_view(&live) || p.value.numel() != seg.numel {
            return Err(Error::Invalid(format!("parameter {} was replaced after the optimiser packed it; write into it instead", p.name)));
        }
        Ok(())
    }
}

/// One update: a parameter, or a run of neighbouring packed ones, with its gradient, its
/// state tensors, learning rate and step count.
pub struct Update {
    pub value: Tensor,
    pub grad: Tensor,
    pub state: Vec<Tensor>,
    pub lr: f32,
    pub step: u64,
}

impl Packed {
    /// The updates of the packed parameters in `stepping` (learning rate and step count of each
    /// that steps now): one per run of neighbouring segments that step with the same learning
    /// rate and step count.
    pub fn runs(&self, stepping: &HashMap<ParamId, (f32, u64)>) -> Result<Vec<Update>> {
        let mut out = Vec::new();
        for a in &self.arenas {
            let mut open: Option<(usize, usize, f32, u64)> = None;
            let mut close = |run: Option<(usize, usize, f32, u64)>| -> Result<()> {
                if let Some((first, last, lr, step)) = run {
                    let state = a.state.iter().map(|t| a.run(t, first, last)).collect::<Result<_>>()?;
                    out.push(Update { value: a.run(&a.value, first, last)?, grad: a.run(&a.grad, first, last)?, state, lr, step });
                }
                Ok(())
            };
            for (i, seg) in a.segs.iter().enumerate() {
                let now = stepping.get(&seg.id).copied();
                match (open, now) {
                    (Some((first, last, lr, step)), Some((l, s))) if last + 1 == i && lr.to_bits() == l.to_bits() && step == s => {
                        open = Some((first, i, lr, step));
                    }
                    (_, now) => {
                        close(open.take())?;
                        open = now.map(|(l, s)| (i, i, l, s));
                    }
                }
            }
            close(open)?;
        }
        Ok(out)
    }
}

/// The parameters in arena order: each leaf's in turn (a batch norm's beta before its gamma),
/// then the activation coefficients.
fn layout(model: &Model) -> Vec<(ParamId, usize)> {
    let mut order = Vec::new();
    let mut coefs = Vec::new();
    for leaf in model.leaves() {
        let params = match leaf {
            Leaf::BatchNorm(b) => vec![&b.beta, &b.gamma],
            other => other.params(),
        };
        for p in params {
            let entry = (p.id, p.value.numel());
            if p.kind == ParamKind::ActCoef { coefs.push(entry) } else { order.push(entry) }
        }
    }
    order.extend(coefs);
    order
}
