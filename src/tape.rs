//! The autograd tape (micrograd/dfdx style). Every differentiable op computes its forward on the
//! GPU and, when one of its inputs needs a gradient, records a closure that maps the gradient
//! of its output to the gradients of its inputs. `backward` walks the records in reverse,
//! summing gradients where a value was used more than once. A tape with gradients disabled
//! (a frozen teacher, evaluation) records nothing. A parameter the optimiser packed has a slot
//! in its gradient arena; the op that computes that parameter's gradient is handed the slot to
//! write it into, and the tape copies in what an op computed elsewhere.

use crate::error::{Error, Result};
use crate::ops::elementwise;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Unique identity of a parameter, stable for the life of the process.
pub type ParamId = u64;

/// What a parameter is; optimisers may treat kinds differently (e.g. the learning rate of
/// activation coefficients).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Weight,
    Bias,
    Norm,
    ActCoef,
}

/// A trainable tensor, named like a torchvision state-dict entry.
pub struct Param {
    pub id: ParamId,
    pub name: String,
    pub kind: ParamKind,
    pub value: Tensor,
    /// Frozen parameters get no gradient.
    pub frozen: bool,
    /// Where `Tape::backward` leaves this parameter's gradient: a view of the optimiser's
    /// gradient arena (`Trainer::adopt`), None for a fresh tensor per step.
    pub slot: Option<Tensor>,
}

impl Param {
    pub fn new(name: impl Into<String>, kind: ParamKind, value: Tensor) -> Param {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Param { id: NEXT.fetch_add(1, Ordering::Relaxed), name: name.into(), kind, value, frozen: false, slot: None }
    }
}

/// A value on the tape: the tensor and, when it needs a gradient, its node.
#[derive(Clone, Debug)]
pub struct Var {
    pub value: Tensor,
    node: Option<usize>,
}

impl Var {
    pub fn constant(value: Tensor) -> Var {
        Var { value, node: None }
    }
    pub fn requires_grad(&self) -> bool {
        self.node.is_some()
    }
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
}

/// Maps the output gradient to one gradient per input (None where not needed). `into[i]`, when
/// given, is where input i's gradient belongs (a parameter's slot): an op may write it there and
/// return that tensor, or return its own, which the tape then copies in.
type Backward = Box<dyn FnOnce(&Tensor, &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>>>;

struct Node {
    /// Recorded op: its input nodes and backward closure. Leaves (parameters) have none.
    op: Option<(Vec<Option<usize>>, Backward)>,
    /// A leaf: the parameter and its gradient slot.
    param: Option<(ParamId, Option<Tensor>)>,
}

/// Gradients of the parameters after `backward`.
pub type Grads = HashMap<ParamId, Tensor>;

pub struct Tape {
    enabled: bool,
    nodes: Vec<Node>,
}

impl Tape {
    /// A tape that records gradients.
    pub fn new() -> Tape {
        Tape { enabled: true, nodes: Vec::new() }
    }

    /// A tape that records nothing (inference, frozen teacher).
    pub fn no_grad() -> Tape {
        Tape { enabled: false, nodes: Vec::new() }
    }

    /// Put a parameter on the tape (a constant when frozen or when gradients are off).
    pub fn param(&mut self, p: &Param) -> Var {
        if !self.enabled || p.frozen {
            return Var::constant(p.value.clone());
        }
        self.nodes.push(Node { op: None, param: Some((p.id, p.slot.clone())) });
        Var { value: p.value.clone(), node: Some(self.nodes.len() - 1) }
    }

    /// Which of `inputs` need a gradient (what a backward closure must compute).
    pub fn needs(&self, inputs: &[&Var]) -> Vec<bool> {
        inputs.iter().map(|v| self.enabled && v.node.is_some()).collect()
    }

    /// Record an op's output. `backward` is kept only if some input needs a gradient.
    /// (Returns `Result` so an op can end with it; recording itself cannot fail.)
    pub fn record(
        &mut self,
        output: Tensor,
        inputs: &[&Var],
        backward: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Result<Var> {
        self.record_into(output, inputs, move |dy, _| backward(dy))
    }

    /// `record` for an op whose backward can write its inputs' gradients where the tape says
    /// (`Backward`'s `into`): the ops with parameters.
    pub fn record_into(
        &mut self,
        output: Tensor,
        inputs: &[&Var],
        backward: impl FnOnce(&Tensor, &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Result<Var> {
        if !self.needs(inputs).contains(&true) {
            return Ok(Var::constant(output));
        }
        let ins = inputs.iter().map(|v| v.node).collect();
        self.nodes.push(Node { op: Some((ins, Box::new(backward))), param: None });
        Ok(Var { value: output, node: Some(self.nodes.len() - 1) })
    }

    /// Back-propagate from a scalar `loss` ([1]); consumes the records.
    pub fn backward(&mut self, loss: &Var) -> Result<Grads> {
        let root = loss.node.ok_or_else(|| Error::Invalid("backward: the loss does not depend on any trainable parameter".into()))?;
        if loss.value.numel() != 1 {
            return Err(Error::shape("backward", format!("the loss must be a scalar, got {:?}", loss.shape())));
        }
        let mut grads: Vec<Option<Tensor>> = vec![None; self.nodes.len()];
        grads[root] = Some(elementwise::full(loss.value.gpu(), loss.shape(), 1.0)?);
        let (into, slots) = self.slots();
        let mut out = Grads::new();
        for (i, node) in self.nodes.drain(..).enumerate().rev() {
            let Some(g) = grads[i].take() else { continue };
            if let Some((id, _)) = node.param {
                // a parameter used more than once has one leaf per use: sum them
                let g = match out.remove(&id) {
                    None => g,
                    Some(acc) => elementwise::add(&acc, &g, 1.0, 1.0)?,
                };
                out.insert(id, g);
                continue;
            }
            let Some((inputs, backward)) = node.op else { continue };
            let dest: Vec<Option<Tensor>> = inputs.iter().map(|j| j.and_then(|j| into[j].clone())).collect();
            for (input, gi) in inputs.into_iter().zip(backward(&g, &dest)?) {
                if let (Some(j), Some(gi)) = (input, gi) {
                    grads[j] = Some(match grads[j].take() {
                        None => gi,
                        // out of place: a gradient may share storage with another tensor
                        Some(acc) => elementwise::add(&acc, &gi.reshape(acc.shape())?, 1.0, 1.0)?,
                    });
                }
            }
        }
        for (id, slot) in slots {
            if let Some(g) = out.get_mut(&id) {
                *g = into_slot(g, slot)?;
            }
        }
        Ok(out)
    }

    /// Per node, the slot its gradient may be written into; and every parameter's slot. An op
    /// gets a parameter's slot only when it makes that parameter's whole gradient (one leaf,
    /// one use of it): a second writer would overwrite the first.
    fn slots(&self) -> (Vec<Option<Tensor>>, HashMap<ParamId, Tensor>) {
        let mut leaves: HashMap<ParamId, usize> = HashMap::new();
        let mut uses = vec![0usize; self.nodes.len()];
        for node in &self.nodes {
            if let Some((id, _)) = &node.param {
                *leaves.entry(*id).or_default() += 1;
            }
            for j in node.op.iter().flat_map(|(ins, _)| ins.iter().flatten()) {
                uses[*j] += 1;
            }
        }
        let mut slots = HashMap::new();
        let into = (self.nodes.iter().enumerate())
            .map(|(i, node)| {
                let (id, slot) = node.param.as_ref()?;
                let slot = slot.as_ref()?;
                slots.insert(*id, slot.clone());
                (leaves[id] == 1 && uses[i] == 1).then(|| slot.clone())
            })
            .collect();
        (into, slots)
    }
}

/// `g` in its parameter's `slot`: the slot itself, `g` copied in unless it already is it.
pub(crate) fn into_slot(g: &Tensor, slot: Tensor) -> Result<Tensor> {
    if !g.same_view(&slot) {
        slot.copy_from(&g.reshape(slot.shape())?)?;
    }
    Ok(slot)
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}
