//! Wrapper of `shaders/col2im.wgsl`: fold an unfolded gradient [P, K] back onto images
//! `n0 .. n0+nc` of `dx` (the adjoint of `im2col`).

use super::im2col::ConvGeom;
use super::{grid_1d, u};
use crate::error::Result;
use crate::tensor::Tensor;

pub fn col2im(dcol: &Tensor, g: &ConvGeom, n0: usize, nc: usize, dx: &Tensor) -> Result<()> {
    const OP: &str = "col2im";
    let gpu = dcol.gpu();
    dcol.expect_shape(OP, "dcol", &[nc * g.ohw(), g.k()])?;
    dx.expect_shape(OP, "dx", &[g.n, g.c, g.h, g.w])?;
    let params = [
        u(OP, g.c)?,
        u(OP, g.h)?,
        u(OP, g.w)?,
        u(OP, g.kh)?,
        u(OP, g.kw)?,
        u(OP, g.stride)?,
        u(OP, g.pad)?,
        u(OP, g.oh)?,
        u(OP, g.ow)?,
        u(OP, n0)?,
        u(OP, nc)?,
        u(OP, g.k())?,
    ];
    gpu.dispatch("col2im", "main", &params, &[(1, dcol.bind()), (2, dx.bind())], grid_1d(gpu, nc * g.c * g.h * g.w)?)
}
