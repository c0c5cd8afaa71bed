//! Wrapper of `shaders/distill.wgsl`: T^2 * KL(softmax(teacher/T) || softmax(student/T)),
//! averaged over the batch.

use super::reduce::{reduce_into, Mode};
use super::{grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/distill.wgsl`.
    pub(crate) struct Params {
        n: u32,
        c: u32,
        t: f32,
    }
}

/// Checks the operands; returns (rows, classes) and the kernel's parameters.
fn check(student: &Tensor, teacher: &Tensor, t: f32) -> Result<(usize, usize, Params)> {
    student.expect_rank("distill", "student logits", 2)?;
    teacher.expect_shape("distill", "teacher logits", student.shape())?;
    if !(t > 0.0 && t.is_finite()) {
        return Err(Error::shape("distill", format!("temperature {t} must be positive")));
    }
    let (n, c) = (student.shape()[0], student.shape()[1]);
    Ok((n, c, Params { n: u("distill", n)?, c: u("distill", c)?, t }))
}

/// Returns the loss [1].
pub fn forward(student: &Tensor, teacher: &Tensor, t: f32) -> Result<Tensor> {
    let (n, _, p) = check(student, teacher, t)?;
    let gpu = student.gpu();
    let rows = Tensor::empty(gpu, &[n], DType::F32)?;
    let bind = [("student", student.bind()), ("teacher", teacher.bind()), ("out", rows.bind())];
    gpu.dispatch("distill", "rows", &p, &bind, grid_1d(gpu, n)?)?;
    let loss = Tensor::empty(gpu, &[1], DType::F32)?;
    reduce_into(&rows, None, None, (1, 1, n), Mode::Sum, t * t / n as f32, &loss, 0)?;
    Ok(loss)
}

/// dstudent for upstream gradient `g` [1].
pub fn backward(student: &Tensor, teacher: &Tensor, t: f32, g: &Tensor) -> Result<Tensor> {
    let (n, c, p) = check(student, teacher, t)?;
    let gpu = student.gpu();
    let ds = Tensor::empty(gpu, &[n, c], DType::F32)?;
    let bind = [("student", student.bind()), ("teacher", teacher.bind()), ("g", g.bind()), ("out", ds.bind())];
    gpu.dispatch("distill", "backward", &p, &bind, grid_1d(gpu, n * c)?)?;
    Ok(ds)
}
