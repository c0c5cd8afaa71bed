//! Wrapper of `shaders/range.wgsl`: the range-awareness penalty max(max x − R, −R − min x, 0)
//! and its (sub)gradient, plus the min/max of a tensor.

use super::reduce::{reduce_into, Mode};
use super::{for_chunks, grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/range.wgsl` (`r` is the range bound).
    pub(crate) struct Params {
        n: u32,
        r: f32,
    }
}

/// [max x, min x] as a [2] tensor.
pub fn minmax(x: &Tensor) -> Result<Tensor> {
    let mm = Tensor::empty(x.gpu(), &[2], DType::F32)?;
    minmax_into(x, &mm, 0)?;
    Ok(mm)
}

/// Writes max x and min x to `out[at]` and `out[at + 1]`.
pub fn minmax_into(x: &Tensor, out: &Tensor, at: usize) -> Result<()> {
    reduce_into(x, None, None, (1, 1, x.numel()), Mode::Max, 1.0, out, at)?;
    reduce_into(x, None, None, (1, 1, x.numel()), Mode::Min, 1.0, out, at + 1)
}

/// Returns (loss [1], mm [2]).
pub fn forward(x: &Tensor, r: f32) -> Result<(Tensor, Tensor)> {
    if r.is_nan() || r <= 0.0 {
        return Err(Error::shape("range", format!("range bound {r} must be positive")));
    }
    let mm = minmax(x)?;
    let loss = Tensor::empty(x.gpu(), &[1], DType::F32)?;
    let p = Params { n: u("range", x.numel())?, r };
    x.gpu().dispatch("range", "forward", &p, &[("mm", mm.bind()), ("out", loss.bind())], [1, 1, 1])?;
    Ok((loss, mm))
}

pub fn backward(x: &Tensor, mm: &Tensor, r: f32, g: &Tensor) -> Result<Tensor> {
    let gpu = x.gpu();
    let dx = Tensor::empty(gpu, x.shape(), DType::F32)?;
    for_chunks(gpu, x.numel(), |s, n| {
        let (xv, dxv) = (x.view(s, &[n])?, dx.view(s, &[n])?);
        let p = Params { n: u("range", n)?, r };
        let bind = [("mm", mm.bind()), ("x", xv.bind()), ("g", g.bind()), ("out", dxv.bind())];
        gpu.dispatch("range", "backward", &p, &bind, grid_1d(gpu, n)?)
    })?;
    Ok(dx)
}
