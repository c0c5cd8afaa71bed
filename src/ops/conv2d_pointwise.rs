//! The unfolded form of a 1×1, stride-1, unpadded convolution (SqueezeNet's squeeze and expand
//! layers, its classifier): per image it is a plain product on the NCHW tensor, y[n] = W · x[n]
//! with W [Co, C] and x[n] [C, H*W], so `gemm_strided` reads x, y, W and dy where they lie:
//! no im2col, col2im or pack (one dispatch forward, one per gradient backward).
//! Images are taken in chunks when a tensor is over the storage-binding limit.

use super::gemm_strided::{gemm_strided, StridedGemm, Strides};
use super::im2col::ConvGeom;
use super::item_chunks;
use crate::error::Result;
use crate::tensor::{DType, Tensor};

/// Whether `g` is a convolution this form computes.
pub fn applies(g: &ConvGeom) -> bool {
    g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0
}

/// Strides of one operand: (batch entry, reduction block, row, column).
fn st(sz: usize, sr: usize, si: usize, sj: usize) -> Strides {
    Strides { sz, sr, si, sj }
}

/// y [N, Co, H, W] = conv(x, w) + b for `w` [Co, C, 1, 1].
pub fn forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeom) -> Result<Tensor> {
    let (c, co, hw) = (g.c, w.shape()[0], g.ohw());
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, &[g.n, co, g.oh, g.ow], DType::F32)?;
    for (s0, m) in item_chunks(gpu, "conv2d", g.n, &[c * hw, co * hw])? {
        let (xv, yv) = (x.view(s0 * c * hw, &[m * c * hw])?, y.view(s0 * co * hw, &[m * co * hw])?);
        // y[z] [Co, HW] = W [Co, C] · x[z] [C, HW]
        gemm_strided(&StridedGemm {
            a: w,
            sa: st(0, 0, c, 1),
            b: &xv,
            sb: st(c * hw, 0, hw, 1),
            c: &yv,
            sc: st(co * hw, 0, hw, 1),
            m: co,
            n: hw,
            k: c,
            blocks: 1,
            batch: m,
            bias: b,
            accumulate: false,
        })?;
    }
    Ok(y)
}

/// dx (when `need_dx`) and dw [Co, C, 1, 1] from dy [N, Co, H, W].
pub fn grads(x: &Tensor, w: &Tensor, dy: &Tensor, g: &ConvGeom, need_dx: bool) -> Result<(Option<Tensor>, Tensor)> {
    let (c, co, hw) = (g.c, w.shape()[0], g.ohw());
    let gpu = x.gpu();
    let dx = if need_dx { Some(Tensor::empty(gpu, x.shape(), DType::F32)?) } else { None };
    let dw = Tensor::empty(gpu, w.shape(), DType::F32)?;
    for (i, (s0, m)) in item_chunks(gpu, "conv2d", g.n, &[c * hw, co * hw])?.into_iter().enumerate() {
        let (xv, dyv) = (x.view(s0 * c * hw, &[m * c * hw])?, dy.view(s0 * co * hw, &[m * co * hw])?);
        // dW [Co, C] (+)= sum over the images r of dy[r] [Co, HW] · x[r]ᵀ [HW, C]
        gemm_strided(&StridedGemm {
            a: &dyv,
            sa: st(0, co * hw, hw, 1),
            b: &xv,
            sb: st(0, c * hw, 1, hw),
            c: &dw,
            sc: st(0, 0, c, 1),
            m: co,
            n: c,
            k: hw,
            blocks: m,
            batch: 1,
            bias: None,
            accumulate: i > 0,
        })?;
        if let Some(dx) = &dx {
            // dx[z] [C, HW] = Wᵀ [C, Co] · dy[z] [Co, HW]
            let dxv = dx.view(s0 * c * hw, &[m * c * hw])?;
            gemm_strided(&StridedGemm {
                a: w,
                sa: st(0, 0, 1, c),
                b: &dyv,
                sb: st(co * hw, 0, hw, 1),
                c: &dxv,
                sc: st(c * hw, 0, hw, 1),
                m: c,
                n: hw,
                k: co,
                blocks: 1,
                batch: m,
                bias: None,
                accumulate: false,
            })?;
        }
    }
    Ok((dx, dw))
}
