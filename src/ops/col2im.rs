//! Wrapper of `shaders/col2im.wgsl`: fold an unfolded gradient [P, K] back onto images
//! `n0 .. n0+nc` of `dx` (the adjoint of `im2col`).

use super::im2col::ConvGeom;
use super::{grid_1d, u};
use crate::error::Result;
use crate::tensor::Tensor;

/// `struct Params` of `shaders/col2im.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
    oh: u32,
    ow: u32,
    n0: u32,
    nc: u32,
    k: u32,
}

pub fn col2im(dcol: &Tensor, g: &ConvGeom, n0: usize, nc: usize, dx: &Tensor) -> Result<()> {
    const OP: &str = "col2im";
    let gpu = dcol.gpu();
    dcol.expect_shape(OP, "dcol", &[nc * g.ohw(), g.k()])?;
    dx.expect_shape(OP, "dx", &[g.n, g.c, g.h, g.w])?;
    let params = Params {
        c: u(OP, g.c)?,
        h: u(OP, g.h)?,
        w: u(OP, g.w)?,
        kh: u(OP, g.kh)?,
        kw: u(OP, g.kw)?,
        stride: u(OP, g.stride)?,
        pad: u(OP, g.pad)?,
        oh: u(OP, g.oh)?,
        ow: u(OP, g.ow)?,
        n0: u(OP, n0)?,
        nc: u(OP, nc)?,
        k: u(OP, g.k())?,
    };
    gpu.dispatch("col2im", "main", &params, &[(1, dcol.bind()), (2, dx.bind())], grid_1d(gpu, nc * g.c * g.h * g.w)?)
}
