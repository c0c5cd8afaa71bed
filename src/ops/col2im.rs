//! Wrapper of `shaders/col2im.wgsl`: fold an unfolded gradient [P, K] back onto images
//! `n0 .. n0+nc` of `dx` (the adjoint of `im2col`).

use super::im2col::{ConvGeom, GeomParams};
use super::{grid_1d, u};
use crate::error::Result;
use crate::gpu::layout::params;
use crate::tensor::Tensor;

params! {
    /// `struct Params` of `shaders/col2im.wgsl`.
    pub(crate) struct Params {
        geom: GeomParams,
        n0: u32,
        nc: u32,
        k: u32,
    }
}

pub fn col2im(dcol: &Tensor, g: &ConvGeom, n0: usize, nc: usize, dx: &Tensor) -> Result<()> {
    const OP: &str = "col2im";
    let gpu = dcol.gpu();
    dcol.expect_shape(OP, "dcol", &[nc * g.ohw(), g.k()])?;
    dx.expect_shape(OP, "dx", &[g.n, g.c, g.h, g.w])?;
    let params = Params {
        geom: GeomParams::new(OP, g)?,
        n0: u(OP, n0)?,
        nc: u(OP, nc)?,
        k: u(OP, g.k())?,
    };
    gpu.dispatch("col2im", "main", &params, &[("dcol", dcol.bind()), ("dx", dx.bind())], grid_1d(gpu, nc * g.c * g.h * g.w)?)
}
