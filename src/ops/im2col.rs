//! Wrapper of `shaders/im2col.wgsl`: unfold the receptive fields of a chunk of images.

use super::{grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

/// Geometry of a 2-D convolution (square stride and padding, no dilation or groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    pub fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    pub fn ohw(&self) -> usize {
        self.oh * self.ow
    }
}

params! {
    /// The geometry fields that open the `Params` of both `im2col.wgsl` and `col2im.wgsl` (the
    /// shaders list them flat; `repr(C)` lays this struct out the same way, and its layout's
    /// members are listed flat among theirs).
    pub(crate) struct GeomParams {
        c: u32,
        h: u32,
        w: u32,
        kh: u32,
        kw: u32,
        stride: u32,
        pad: u32,
        oh: u32,
        ow: u32,
    }
}

impl GeomParams {
    pub(crate) fn new(op: &'static str, g: &ConvGeom) -> Result<GeomParams> {
        Ok(GeomParams {
            c: u(op, g.c)?,
            h: u(op, g.h)?,
            w: u(op, g.w)?,
            kh: u(op, g.kh)?,
            kw: u(op, g.kw)?,
            stride: u(op, g.stride)?,
            pad: u(op, g.pad)?,
            oh: u(op, g.oh)?,
            ow: u(op, g.ow)?,
        })
    }
}

params! {
    /// `struct Params` of `shaders/im2col.wgsl`.
    pub(crate) struct Params {
        geom: GeomParams,
        n0: u32,
        p: u32,
        k: u32,
        kp: u32,
        pp: u32,
        transposed: u32,
    }
}

/// Unfold images `n0 .. n0+nc` of `x` [N, C, H, W].
/// `transposed == false`: returns [P, kp] (P = nc*OH*OW, columns K.. zero);
/// `transposed == true`:  returns [K, pp] (columns P.. zero).
/// The padded width (`padded`: kp or pp) must be a multiple of 4: rows are written as vec4s.
pub fn im2col(x: &Tensor, g: &ConvGeom, n0: usize, nc: usize, transposed: bool, padded: usize) -> Result<Tensor> {
    const OP: &str = "im2col";
    let gpu = x.gpu();
    let p = nc * g.ohw();
    let k = g.k();
    let (shape, cols) = if transposed { ([k, padded], p) } else { ([p, padded], k) };
    if !padded.is_multiple_of(4) || padded < cols {
        return Err(Error::shape(OP, format!("rows of {padded} values must hold {cols} columns and be a multiple of 4 (written as vec4s)")));
    }
    gpu.check_binding(OP, "the unfolded input", (shape[0] * shape[1] * 4) as u64)?;
    let col = Tensor::empty(gpu, &shape, DType::F32)?;
    let (kp, pp) = if transposed { (k, padded) } else { (padded, p) };
    let params = Params {
        geom: GeomParams::new(OP, g)?,
        n0: u(OP, n0)?,
        p: u(OP, p)?,
        k: u(OP, k)?,
        kp: u(OP, kp)?,
        pp: u(OP, pp)?,
        transposed: transposed as u32,
    };
    gpu.dispatch("im2col", "main", &params, &[("x", x.bind()), ("col", col.bind())], grid_1d(gpu, shape[0] * shape[1] / 4)?)?;
    Ok(col)
}
