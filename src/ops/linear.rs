//! Linear layer y = x·Wᵀ + b (W [out, in], torchvision layout), forward and backward through
//! `pack` + `matmul`. A weight over the binding limit (AlexNet's fc6 at 224 px: 4096×9216,
//! 151 MB) is processed in blocks of output rows, each bound as a view.

use super::matmul::{matmul_into, pad4, Bias, Gemm, OutMap};
use super::pack::{pack, pad_cols, View};
use super::reduce::{channel_sums_into, Mode};
use super::GradsInto;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

const ALL: usize = usize::MAX >> 1;

fn dims(x: &Tensor, w: &Tensor) -> Result<(usize, usize, usize)> {
    const OP: &str = "linear";
    x.expect_rank(OP, "input", 2)?;
    w.expect_rank(OP, "weight", 2)?;
    let (n, i) = (x.shape()[0], x.shape()[1]);
    if w.shape()[1] != i {
        return Err(Error::shape(OP, format!("input {:?} has {i} features, weight {:?} expects {}", x.shape(), w.shape(), w.shape()[1])));
    }
    Ok((n, i, w.shape()[0]))
}

/// Blocks (first row, rows) of W's `out` rows such that a block of `width` padded columns fits
/// one binding; block starts are multiples of the offset alignment.
fn row_blocks(w: &Tensor, width: usize) -> Result<Vec<(usize, usize)>> {
    let gpu = w.gpu();
    let (out, step) = (w.shape()[0], ((gpu.limits().min_storage_buffer_offset_alignment as usize) / 4).max(1));
    let rows = (gpu.chunk_elems() / width.max(1)) / step * step;
    if rows == 0 {
        return Err(Error::TooLarge { op: "linear", what: format!("{step} weight rows of {width} values"), size: (step * width * 4) as u64, limit: gpu.max_binding(), unit: "bytes" });
    }
    Ok((0..out).step_by(rows).map(|o0| (o0, rows.min(out - o0))).collect())
}

/// y [N, out] = x [N, in] · Wᵀ + b.
pub fn forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (n, i, o) = dims(x, w)?;
    if let Some(b) = b {
        b.expect_shape("linear", "bias", &[o])?;
    }
    let ip = pad4(i);
    let xp = pad_cols(x, ip)?;
    let y = Tensor::empty(x.gpu(), &[n, o], DType::F32)?;
    for (o0, rows) in row_blocks(w, ip)? {
        let wp = pad_cols(&w.view(o0 * i, &[rows, i])?, ip)?;
        let bv = b.map(|b| b.view(o0, &[rows])).transpose()?;
        let map = OutMap { sm: o, g: rows, sg: 0, sn: 1, base: o0 };
        matmul_into(&Gemm { a: &xp, b: &wp, m: n, n: rows, kp: ip, bias: bv.as_ref().map_or(Bias::None, Bias::Cols), c: &y, map, accumulate: false, relu: false })?;
    }
    Ok(y)
}

/// Gradients: (dx if `need_dx`, dW [out, in], db [out]).
pub fn backward(x: &Tensor, w: &Tensor, dy: &Tensor, need_dx: bool) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    backward_into(x, w, dy, need_dx, GradsInto::default())
}

/// `backward`, writing dW and db where `into` says.
pub fn backward_into(x: &Tensor, w: &Tensor, dy: &Tensor, need_dx: bool, into: GradsInto) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let (n, i, o) = dims(x, w)?;
    dy.expect_shape("linear backward", "dy", &[n, o])?;
    let gpu = x.gpu();
    let np = pad4(n);
    let xt = pack(x, i, n, np, View::transposed(i))?; // xᵀ [in, N]: operand B of dW
    let dx = if need_dx { Some(Tensor::empty(gpu, &[n, i], DType::F32)?) } else { None };
    let dw = super::output(gpu, "linear backward", &[o, i], into.w)?;
    for (block, (o0, rows)) in row_blocks(w, i.max(np))?.into_iter().enumerate() {
        // dW[o0..o0+rows] = dy[:, o0..]ᵀ · x
        let dyt = pack(dy, rows, n, np, View { base: o0, gr: ALL, sgr: 0, sr: 1, gk: ALL, sgk: 0, sk: o })?;
        let dwv = dw.view(o0 * i, &[rows, i])?;
        matmul_into(&Gemm { a: &dyt, b: &xt, m: rows, n: i, kp: np, bias: Bias::None, c: &dwv, map: OutMap::row_major(i), accumulate: false, relu: false })?;
        if let Some(dx) = &dx {
            // dx += dy[:, o0..] · W[o0..]: A = dy block [N, rows], B = W blockᵀ [in, rows]
            let rp = pad4(rows);
            let a = pack(dy, n, rows, rp, View { base: o0, gr: ALL, sgr: 0, sr: o, gk: ALL, sgk: 0, sk: 1 })?;
            let b = pack(&w.view(o0 * i, &[rows, i])?, i, rows, rp, View::transposed(i))?;
            matmul_into(&Gemm { a: &a, b: &b, m: n, n: i, kp: rp, bias: Bias::None, c: dx, map: OutMap::row_major(i), accumulate: block > 0, relu: false })?;
        }
    }
    let db = channel_sums_into(dy, n, o, 1, Mode::Sum, 1.0, into.b)?;
    Ok((dx, dw, db))
}
