//! Differentiable ops: each runs its forward kernel(s) and records on the tape the backward
//! that maps the output gradient to its inputs' gradients (computing only those needed).

use crate::error::{Error, Result};
use crate::ops::{self, avgpool::AvgPool, maxpool::Pool};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// The slots of inputs 1 and 2 (weight and bias, gamma and beta) that `Tape::backward` gives.
fn grads_into(into: &[Option<Tensor>]) -> ops::GradsInto<'_> {
    ops::GradsInto { w: into.get(1).and_then(Option::as_ref), b: into.get(2).and_then(Option::as_ref) }
}

/// A convolution; with `relu`, max(·, 0) of it in the same pass (its backward masks dy by the
/// output: y > 0 exactly where the convolution was).
pub fn conv2d(tape: &mut Tape, x: &Var, w: &Var, b: Option<&Var>, stride: usize, pad: usize, relu: bool) -> Result<Var> {
    let y = ops::conv2d::forward(&x.value, &w.value, b.map(|b| &b.value), stride, pad, relu)?;
    let need = tape.needs(&[x, w]);
    let (xv, wv) = (x.value.clone(), w.value.clone());
    let yv = relu.then(|| y.clone());
    let inputs: Vec<&Var> = [x, w].into_iter().chain(b).collect();
    tape.record_into(y, &inputs, move |dy, into| {
        let masked = yv.as_ref().map(|y| ops::relu::backward(y, dy)).transpose()?;
        let dy = masked.as_ref().unwrap_or(dy);
        let (dx, dw, db) = ops::conv2d::backward_into(&xv, &wv, dy, stride, pad, need[0], grads_into(into))?;
        Ok(vec![dx, need[1].then_some(dw), Some(db)])
    })
}

pub fn linear(tape: &mut Tape, x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
    let y = ops::linear::forward(&x.value, &w.value, b.map(|b| &b.value))?;
    let need = tape.needs(&[x, w]);
    let (xv, wv) = (x.value.clone(), w.value.clone());
    let inputs: Vec<&Var> = [x, w].into_iter().chain(b).collect();
    tape.record_into(y, &inputs, move |dy, into| {
        let (dx, dw, db) = ops::linear::backward_into(&xv, &wv, dy, need[0], grads_into(into))?;
        Ok(vec![dx, need[1].then_some(dw), Some(db)])
    })
}

pub fn relu(tape: &mut Tape, x: &Var) -> Result<Var> {
    let y = ops::relu::forward(&x.value)?;
    let xv = x.value.clone();
    tape.record(y, &[x], move |dy| Ok(vec![Some(ops::relu::backward(&xv, dy)?)]))
}

/// r*(c0 + c1 x + c2 x^2) + (1-r)*relu(x) with trainable coefficients `coef` [3] (`affine`: c2
/// is 0 and gets no gradient).
pub fn quad(tape: &mut Tape, x: &Var, coef: &Var, r: f32, affine: bool) -> Result<Var> {
    let y = ops::quad::forward(&x.value, &coef.value, r)?;
    let (xv, cv) = (x.value.clone(), coef.value.clone());
    tape.record_into(y, &[x, coef], move |dy, into| {
        let (dx, dc) = ops::quad::backward_into(&xv, &cv, r, dy, affine, into[1].as_ref())?;
        Ok(vec![Some(dx), Some(dc)])
    })
}

pub fn maxpool(tape: &mut Tape, x: &Var, pool: Pool) -> Result<Var> {
    let (y, idx) = ops::maxpool::forward(&x.value, pool)?;
    let shape = x.shape().to_vec();
    tape.record(y, &[x], move |dy| Ok(vec![Some(ops::maxpool::backward(&shape, &idx, dy, pool)?)]))
}

pub fn avgpool(tape: &mut Tape, x: &Var, kind: AvgPool) -> Result<Var> {
    let y = ops::avgpool::forward(&x.value, kind)?;
    let shape = x.shape().to_vec();
    tape.record(y, &[x], move |dy| Ok(vec![Some(ops::avgpool::backward(&shape, dy, kind)?)]))
}

/// BatchNorm2d. Training mode uses batch statistics and updates the running averages in place.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm(
    tape: &mut Tape,
    x: &Var,
    gamma: &Var,
    beta: &Var,
    running: (&Tensor, &Tensor),
    training: bool,
    eps: f32,
    momentum: f32,
) -> Result<Var> {
    if !training {
        let y = ops::batchnorm::forward_eval(&x.value, &gamma.value, &beta.value, running.0, running.1, eps)?;
        // eval mode is an affine map: dx = dy * gamma / sqrt(running_var + eps); gamma and beta
        // are treated as constants here (they train in training mode only)
        let (g, rv) = (gamma.value.clone(), running.1.clone());
        return tape.record(y, &[x], move |dy| {
            let zeros = ops::elementwise::full(dy.gpu(), &[g.numel()], 0.0)?;
            Ok(vec![Some(ops::batchnorm::forward_eval(dy, &g, &zeros, &zeros, &rv, eps)?)])
        });
    }
    let (y, saved) = ops::batchnorm::forward_train(&x.value, &gamma.value, &beta.value, running.0, running.1, eps, momentum)?;
    let g = gamma.value.clone();
    tape.record_into(y, &[x, gamma, beta], move |dy, into| {
        let (dx, dg, db) = ops::batchnorm::backward_into(dy, &g, &saved, grads_into(into))?;
        Ok(vec![Some(dx), Some(dg), Some(db)])
    })
}

/// Inverted dropout; `seed` must differ per call (the backward replays the same mask).
pub fn dropout(tape: &mut Tape, x: &Var, prob: f32, seed: u32) -> Result<Var> {
    let y = ops::dropout::apply(&x.value, prob, seed)?;
    tape.record(y, &[x], move |dy| Ok(vec![Some(ops::dropout::apply(dy, prob, seed)?)]))
}

pub fn concat(tape: &mut Tape, parts: &[&Var]) -> Result<Var> {
    let tensors: Vec<&Tensor> = parts.iter().map(|v| &v.value).collect();
    let y = ops::concat::forward(&tensors)?;
    let channels: Vec<usize> = parts.iter().map(|v| v.shape()[1]).collect();
    tape.record(y, parts, move |dy| Ok(ops::concat::backward(dy, &channels)?.into_iter().map(Some).collect()))
}

/// A view with another shape (no copy).
pub fn reshape(tape: &mut Tape, x: &Var, shape: &[usize]) -> Result<Var> {
    let y = x.value.reshape(shape)?;
    let old = x.shape().to_vec();
    tape.record(y, &[x], move |dy| Ok(vec![Some(dy.reshape(&old)?)]))
}

/// [N, ...] → [N, rest].
pub fn flatten(tape: &mut Tape, x: &Var) -> Result<Var> {
    let n = x.shape()[0];
    reshape(tape, x, &[n, x.value.numel() / n])
}

/// alpha*a + beta*b (same number of elements).
pub fn add(tape: &mut Tape, a: &Var, b: &Var, alpha: f32, beta: f32) -> Result<Var> {
    let y = ops::elementwise::add(&a.value, &b.value, alpha, beta)?;
    let need = tape.needs(&[a, b]);
    tape.record(y, &[a, b], move |dy| {
        // a weight of 1 passes dy on as it is (as reshape does: no gradient is written in place)
        let scaled = |w: f32, needed: bool| -> Result<Option<Tensor>> {
            Ok(match (needed, w == 1.0) {
                (false, _) => None,
                (true, true) => Some(dy.clone()),
                (true, false) => Some(ops::elementwise::affine(dy, w, 0.0)?),
            })
        };
        Ok(vec![scaled(alpha, need[0])?, scaled(beta, need[1])?])
    })
}

/// Class-weighted softmax cross-entropy of logits [N, C]; labels u32 [N], weights [C].
pub fn cross_entropy(tape: &mut Tape, logits: &Var, labels: &Tensor, weights: &Tensor) -> Result<Var> {
    let (loss, saved) = ops::cross_entropy::forward(&logits.value, labels, weights)?;
    let (z, y, w) = (logits.value.clone(), labels.clone(), weights.clone());
    tape.record(loss, &[logits], move |g| Ok(vec![Some(ops::cross_entropy::backward(&z, &y, &w, &saved, g)?)]))
}

/// T^2 * KL(softmax(teacher/T) || softmax(student/T)); the teacher gets no gradient.
pub fn distill(tape: &mut Tape, student: &Var, teacher: &Tensor, t: f32) -> Result<Var> {
    if teacher.shape() != student.shape() {
        return Err(Error::shape("distill", format!("teacher {:?} vs student {:?}", teacher.shape(), student.shape())));
    }
    let loss = ops::distill::forward(&student.value, teacher, t)?;
    let (s, tc) = (student.value.clone(), teacher.clone());
    tape.record(loss, &[student], move |g| Ok(vec![Some(ops::distill::backward(&s, &tc, t, g)?)]))
}

/// Range-awareness penalty max(max x − R, −R − min x, 0) of an activation's input ([1]).
pub fn range_penalty(tape: &mut Tape, x: &Var, r: f32) -> Result<Var> {
    let (loss, mm) = ops::range::forward(&x.value, r)?;
    let xv = x.value.clone();
    tape.record(loss, &[x], move |g| Ok(vec![Some(ops::range::backward(&xv, &mm, r, g)?)]))
}
