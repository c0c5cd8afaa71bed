//! Wrapper of `shaders/pack.wgsl`: a strided 2-D view of a tensor written out as a dense,
//! zero-padded row-major matrix (the operand layout of `matmul`).

use super::{grid_1d, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

/// Element (r, k) of the view is `src[base + (r/gr)*sgr + (r%gr)*sr + (k/gk)*sgk + (k%gk)*sk]`.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub base: usize,
    pub gr: usize,
    pub sgr: usize,
    pub sr: usize,
    pub gk: usize,
    pub sgk: usize,
    pub sk: usize,
}

impl View {
    /// Plain row-major [rows, cols] matrix.
    pub fn rows(cols: usize) -> View {
        View { base: 0, gr: usize::MAX >> 1, sgr: 0, sr: cols, gk: usize::MAX >> 1, sgk: 0, sk: 1 }
    }
    /// Transpose of a row-major [rows, cols] matrix: element (r, k) = src[k, r].
    pub fn transposed(cols: usize) -> View {
        View { base: 0, gr: usize::MAX >> 1, sgr: 0, sr: 1, gk: usize::MAX >> 1, sgk: 0, sk: cols }
    }
}

params! {
    /// `struct Params` of `shaders/pack.wgsl`.
    pub(crate) struct Params {
        r: u32,
        k: u32,
        kp: u32,
        base: u32,
        gr: u32,
        sgr: u32,
        sr: u32,
        gk: u32,
        sgk: u32,
        sk: u32,
    }
}

/// Pack `rows` x `k` elements of the view into a new [rows, kp] tensor (columns k.. are 0); kp
/// must be a multiple of 4 (rows are written as vec4s).
pub fn pack(src: &Tensor, rows: usize, k: usize, kp: usize, v: View) -> Result<Tensor> {
    const OP: &str = "pack";
    src.expect_dtype(OP, "src", DType::F32)?;
    if kp < k || !kp.is_multiple_of(4) {
        return Err(Error::shape(OP, format!("padded width {kp}: must hold the width {k} and be a multiple of 4 (written as vec4s)")));
    }
    let gpu = src.gpu();
    gpu.check_binding(OP, "packed operand", (rows * kp * 4) as u64)?;
    gpu.check_binding(OP, "source", src.bytes())?;
    let dst = Tensor::empty(gpu, &[rows, kp], DType::F32)?;
    let clamp = |x: usize| u(OP, x.min(u32::MAX as usize));
    let params = Params {
        r: u(OP, rows)?,
        k: u(OP, k)?,
        kp: u(OP, kp)?,
        base: u(OP, v.base)?,
        gr: clamp(v.gr)?,
        sgr: u(OP, v.sgr)?,
        sr: u(OP, v.sr)?,
        gk: clamp(v.gk)?,
        sgk: u(OP, v.sgk)?,
        sk: u(OP, v.sk)?,
    };
    gpu.dispatch("pack", "main", &params, &[("src", src.bind()), ("dst", dst.bind())], grid_1d(gpu, rows * kp / 4)?)?;
    Ok(dst)
}

/// A [rows, cols] matrix with its columns zero-padded to `kp` (returned as is when cols == kp;
/// else kp must be a multiple of 4).
pub fn pad_cols(x: &Tensor, kp: usize) -> Result<Tensor> {
    let (rows, cols) = (x.shape()[0], x.numel() / x.shape()[0]);
    if cols == kp {
        return x.reshape(&[rows, cols]);
    }
    pack(x, rows, cols, kp, View::rows(cols))
}

/// Transpose of a [rows, cols] matrix, its columns (the old rows) zero-padded to `kp` (a
/// multiple of 4).
pub fn transpose_padded(x: &Tensor, kp: usize) -> Result<Tensor> {
    let (rows, cols) = (x.shape()[0], x.numel() / x.shape()[0]);
    pack(x, cols, rows, kp, View::transposed(cols))
}
