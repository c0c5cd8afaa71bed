//! The forward pass: a `Flow` over the layer tree whose value is the tape variable, with the
//! context that says how the pass runs (training or evaluation, dropout masks, what to keep).

use super::layers::Layer;
use super::tree::{join_shape, Branches, Flow, Join, Leaf};
use crate::error::{Error, Result};
use crate::nn::functional as F;
use crate::tape::{Tape, Var};

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

struct Forward<'t> {
    tape: &'t mut Tape,
    ctx: &'t mut Ctx,
}

impl Forward<'_> {
    fn keep(&mut self, y: Var) -> Var {
        if let Some(o) = self.ctx.outputs.as_mut() {
            o.push(y.clone());
        }
        y
    }
}

impl<'a> Flow<'a> for Forward<'_> {
    type V = Var;
    type Error = Error;

    fn leaf(&mut self, leaf: Leaf<'a>, x: Var, _: usize) -> Result<Var> {
        let (tape, ctx) = (&mut *self.tape, &mut *self.ctx);
        let y = match leaf {
            Leaf::Conv(c) => c.forward(tape, &x)?,
            Leaf::Linear(l) => l.forward(tape, &x)?,
            Leaf::Act(a) => {
                if let Some(v) = ctx.act_inputs.as_mut() {
                    v.push((a.name.clone(), x.clone()));
                }
                a.forward(tape, &x)?
            }
            Leaf::Pool(p) => p.forward(tape, &x)?,
            Leaf::BatchNorm(bn) => bn.forward(tape, &x, ctx.training)?,
            Leaf::Dropout(p) if ctx.training && p > 0.0 => {
                ctx.dropouts += 1;
                F::dropout(tape, &x, p, ctx.seed.wrapping_mul(2654435761).wrapping_add(ctx.dropouts))?
            }
            Leaf::Dropout(_) => return Ok(x),
            Leaf::Flatten => F::flatten(tape, &x)?,
        };
        Ok(self.keep(y))
    }

    fn join(&mut self, b: &'a Branches, _: &Var, outs: Vec<Var>, _: usize) -> Result<Var> {
        join_shape(b.join, &outs.iter().map(|v| v.shape().to_vec()).collect::<Vec<_>>())?;
        let y = match b.join {
            Join::Concat => F::concat(self.tape, &outs.iter().collect::<Vec<_>>())?,
            Join::Add => {
                let mut sum = outs[0].clone();
                for o in &outs[1..] {
                    sum = F::add(self.tape, &sum, o, 1.0, 1.0)?;
                }
                sum
            }
        };
        Ok(self.keep(y))
    }
}

impl Layer {
    pub fn forward(&self, tape: &mut Tape, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        self.flow(&mut Forward { tape, ctx }, x.clone(), 0)
    }
}
