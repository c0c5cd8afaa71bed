//! The autograd tape (micrograd/dfdx style). Every differentiable op computes its forward on the
//! GPU and, when one of its inputs needs a gradient, records a closure that maps the gradient
//! of its output to the gradients of its inputs. `backward` walks the records in reverse,
//! summing gradients where a value was used more than once. A tape with gradients disabled
//! (a frozen teacher, evaluation) records nothing.

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
}

impl Param {
    pub fn new(name: impl Into<String>, kind: ParamKind, value: Tensor) -> Param {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Param { id: NEXT.fetch_add(1, Ordering::Relaxed), name: name.into(), kind, value, frozen: false }
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

/// Maps the output gradient to one gradient per input (None where not needed).
type Backward = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>>>;

struct Node {
    /// Recorded op: its input nodes and backward closure. Leaves (parameters) have none.
    op: Option<(Vec<Option<usize>>, Backward)>,
    param: Option<ParamId>,
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
        self.nodes.push(Node { op: None, param: Some(p.id) });
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
        let mut out = Grads::new();
        for (i, node) in self.nodes.drain(..).enumerate().rev() {
            let Some(g) = grads[i].take() else { continue };
            if let Some(id) = node.param {
                // a parameter used more than once has one leaf per use: sum them
                let g = match out.remove(&id) {
                    None => g,
                    Some(acc) => elementwise::add(&acc, &g, 1.0, 1.0)?,
                };
                out.insert(id, g);
                continue;
            }
            let Some((inputs, backward)) = node.op else { continue };
            for (input, gi) in inputs.into_iter().zip(backward(&g)?) {
                if let (Some(j), Some(gi)) = (input, gi) {
                    grads[j] = Some(match grads[j].take() {
                        None => gi,
                        // out of place: a gradient may share storage with another tensor
                        Some(acc) => elementwise::add(&acc, &gi.reshape(acc.shape())?, 1.0, 1.0)?,
                    });
                }
            }
        }
        Ok(out)
    }
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}
