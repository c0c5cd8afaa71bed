//! Linear layer y = x·Wᵀ + b (W [out, in], torchvision layout), forward and backward through
//! `pack` + `matmul`.

use super::matmul::{matmul_into, pad4, Bias, OutMap};
use super::pack::{pack, pad_cols, View};
use super::reduce::{channel_sums, Mode};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

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

/// y [N, out] = x [N, in] · Wᵀ + b.
pub fn forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (n, i, o) = dims(x, w)?;
    if let Some(b) = b {
        b.expect_shape("linear", "bias", &[o])?;
    }
    let gpu = x.gpu();
    let ip = pad4(i);
    let (xp, wp) = (pad_cols(x, ip)?, pad_cols(w, ip)?);
    let y = Tensor::empty(gpu, &[n, o], DType::F32)?;
    matmul_into(&xp, &wp, n, o, ip, b.map_or(Bias::None, Bias::Cols), &y, OutMap::row_major(o), false)?;
    Ok(y)
}

/// Gradients: (dx if `need_dx`, dW [out, in], db [out]).
pub fn backward(x: &Tensor, w: &Tensor, dy: &Tensor, need_dx: bool) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let (n, i, o) = dims(x, w)?;
    dy.expect_shape("linear backward", "dy", &[n, o])?;
    let gpu = x.gpu();
    let dx = if need_dx {
        // dx [N, in] = dy [N, out] · W [out, in]  →  A = dy (k = out), B = Wᵀ [in, out]
        let op = pad4(o);
        let (a, b) = (pad_cols(dy, op)?, pack(w, i, o, op, View::transposed(i))?);
        let dx = Tensor::empty(gpu, &[n, i], DType::F32)?;
        matmul_into(&a, &b, n, i, op, Bias::None, &dx, OutMap::row_major(i), false)?;
        Some(dx)
    } else {
        None
    };
    // dW [out, in] = dyᵀ [out, N] · x [N, in]  →  A = dyᵀ, B = xᵀ [in, N]
    let np = pad4(n);
    let (a, b) = (pack(dy, o, n, np, View::transposed(o))?, pack(x, i, n, np, View::transposed(i))?);
    let dw = Tensor::empty(gpu, &[o, i], DType::F32)?;
    matmul_into(&a, &b, o, i, np, Bias::None, &dw, OutMap::row_major(i), false)?;
    let db = channel_sums(dy, n, o, 1, Mode::Sum, 1.0)?;
    Ok((dx, dw, db))
}
