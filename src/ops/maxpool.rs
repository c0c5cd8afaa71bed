//! Wrapper of `shaders/maxpool.wgsl`: 2-D max pooling with arg-max indices for backward.

use super::{grid_1d, item_chunks, out_size, u};
use crate::error::Result;
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

/// Window geometry shared by max and average pooling. `ceil` rounds the output size up
/// (PyTorch's ceil_mode; the last window must still start inside the input or left padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub ceil: bool,
}

impl Pool {
    pub fn new(kernel: usize, stride: usize) -> Pool {
        Pool { kernel, stride, pad: 0, ceil: false }
    }

    /// Output size along an axis of size n.
    pub fn out(&self, op: &'static str, n: usize) -> Result<usize> {
        let floor = out_size(op, n, self.kernel, self.stride, self.pad)?;
        if !self.ceil || (n + 2 * self.pad - self.kernel).is_multiple_of(self.stride) {
            return Ok(floor);
        }
        // one more window, unless it would start past the input and its left padding
        Ok(if floor * self.stride >= n + self.pad { floor } else { floor + 1 })
    }
}

pub(crate) fn pool_shape(op: &'static str, x: &Tensor, pool: Pool) -> Result<[usize; 4]> {
    x.expect_rank(op, "input", 4)?;
    x.expect_dtype(op, "input", DType::F32)?;
    let s = x.shape();
    if pool.pad * 2 > pool.kernel {
        return Err(crate::Error::shape(op, format!("padding {} exceeds half the kernel {}", pool.pad, pool.kernel)));
    }
    let (oh, ow) = (pool.out(op, s[2])?, pool.out(op, s[3])?);
    Ok([s[0], s[1], oh, ow])
}

params! {
    /// `struct Params` of `shaders/maxpool.wgsl` and of `avgpool.wgsl`.
    pub(crate) struct Params {
        planes: u32,
        h: u32,
        w: u32,
        oh: u32,
        ow: u32,
        kh: u32,
        kw: u32,
        stride: u32,
        pad: u32,
    }
}

impl Params {
    /// Input [N, C, H, W] `xs`, output `os`, a square `kernel` window.
    pub(crate) fn new(op: &'static str, xs: &[usize], os: &[usize], kernel: usize, stride: usize, pad: usize) -> Result<Params> {
        Ok(Params {
            planes: u(op, xs[0] * xs[1])?,
            h: u(op, xs[2])?,
            w: u(op, xs[3])?,
            oh: u(op, os[2])?,
            ow: u(op, os[3])?,
            kh: u(op, kernel)?,
            kw: u(op, kernel)?,
            stride: u(op, stride)?,
            pad: u(op, pad)?,
        })
    }
}

fn params(x_shape: &[usize], out: &[usize; 4], pool: Pool) -> Result<Params> {
    Params::new("maxpool", x_shape, out, pool.kernel, pool.stride, pool.pad)
}

/// Returns (y, argmax indices as u32 [N, C, OH, OW]). Planes are pooled in chunks when a tensor
/// is over the binding limit.
pub fn forward(x: &Tensor, pool: Pool) -> Result<(Tensor, Tensor)> {
    let os = pool_shape("maxpool", x, pool)?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, &os, DType::F32)?;
    let idx = Tensor::empty(gpu, &os, DType::U32)?;
    let s = x.shape();
    let (hw, ohw) = (s[2] * s[3], os[2] * os[3]);
    for (p0, np) in item_chunks(gpu, "maxpool", s[0] * s[1], &[hw, ohw])? {
        let (xv, yv, iv) = (x.view(p0 * hw, &[np * hw])?, y.view(p0 * ohw, &[np * ohw])?, idx.view(p0 * ohw, &[np * ohw])?);
        let p = params(&[np, 1, s[2], s[3]], &os, pool)?;
        let bind = [("x", xv.bind()), ("y", yv.bind()), ("idx", iv.bind())];
        gpu.dispatch("maxpool", "forward", &p, &bind, grid_1d(gpu, np * ohw)?)?;
    }
    Ok((y, idx))
}

pub fn backward(x_shape: &[usize], idx: &Tensor, dy: &Tensor, pool: Pool) -> Result<Tensor> {
    let gpu = dy.gpu();
    idx.expect_dtype("maxpool backward", "indices", DType::U32)?;
    dy.expect_rank("maxpool backward", "dy", 4)?;
    let os = [dy.shape()[0], dy.shape()[1], dy.shape()[2], dy.shape()[3]];
    idx.expect_shape("maxpool backward", "indices", &os)?;
    if x_shape.len() != 4 || x_shape[..2] != os[..2] {
        return Err(crate::Error::shape("maxpool backward", format!("input {x_shape:?} and dy {os:?} differ in batch or channels")));
    }
    let dx = Tensor::empty(gpu, x_shape, DType::F32)?;
    let (hw, ohw) = (x_shape[2] * x_shape[3], os[2] * os[3]);
    for (p0, np) in item_chunks(gpu, "maxpool", os[0] * os[1], &[hw, ohw])? {
        let (dyv, iv, dxv) = (dy.view(p0 * ohw, &[np * ohw])?, idx.view(p0 * ohw, &[np * ohw])?, dx.view(p0 * hw, &[np * hw])?);
        let p = params(&[np, 1, x_shape[2], x_shape[3]], &os, pool)?;
        let bind = [("dy", dyv.bind()), ("idx_in", iv.bind()), ("dx", dxv.bind())];
        gpu.dispatch("maxpool", "backward", &p, &bind, grid_1d(gpu, np * hw)?)?;
    }
    Ok(dx)
}
