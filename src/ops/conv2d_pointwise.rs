//! The unfolded form of a 1×1, stride-1, unpadded convolution (SqueezeNet's squeeze and expand
//! layers, its classifier): per image it is a plain product on the NCHW tensor, y[n] = W · x[n]
//! with W [Co, C] and x[n] [C, H*W], so `gemm_strided` reads x, y, W and dy where they lie, the
//! columns running over (image, pixel): no im2col, col2im or pack (one dispatch forward, one per
//! gradient backward).
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

/// Strides of one operand: (reduction block, row, column group, column).
fn st(sr: usize, si: usize, sg: usize, sj: usize) -> Strides {
    Strides { sr, si, sg, sj }
}

/// y [N, Co, H, W] = conv(x, w) + b for `w` [Co, C, 1, 1] (then max(·, 0) when `relu`).
pub fn forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeom, relu: bool) -> Result<Tensor> {
    let (c, co, hw) = (g.c, w.shape()[0], g.ohw());
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, &[g.n, co, g.oh, g.ow], DType::F32)?;
    for (s0, m) in item_chunks(gpu, "conv2d", g.n, &[c * hw, co * hw])? {
        let (xv, yv) = (x.view(s0 * c * hw, &[m * c * hw])?, y.view(s0 * co * hw, &[m * co * hw])?);
        // y [Co, (image, pixel)] = W [Co, C] · x [C, (image, pixel)]
        gemm_strided(&StridedGemm {
            a: w,
            sa: st(0, c, 0, 1),
            b: &xv,
            sb: st(0, hw, c * hw, 1),
            c: &yv,
            sc: st(0, hw, co * hw, 1),
            m: co,
            n: m * hw,
            k: c,
            blocks: 1,
            group: hw,
            bias: b,
            accumulate: false,
            relu,
        })?;
    }
    Ok(y)
}

/// dx (when `need_dx`), and dw into `dw` [Co, C, 1, 1], from dy [N, Co, H, W].
pub fn grads(x: &Tensor, w: &Tensor, dy: &Tensor, g: &ConvGeom, need_dx: bool, dw: &Tensor) -> Result<Option<Tensor>> {
    let (c, co, hw) = (g.c, w.shape()[0], g.ohw());
    let gpu = x.gpu();
    let dx = if need_dx { Some(Tensor::empty(gpu, x.shape(), DType::F32)?) } else { None };
    for (i, (s0, m)) in item_chunks(gpu, "conv2d", g.n, &[c * hw, co * hw])?.into_iter().enumerate() {
        let (xv, dyv) = (x.view(s0 * c * hw, &[m * c * hw])?, dy.view(s0 * co * hw, &[m * co * hw])?);
        // dW [Co, C] (+)= sum over the images r of dy[r] [Co, HW] · x[r]ᵀ [HW, C]
        gemm_strided(&StridedGemm {
            a: &dyv,
            sa: st(co * hw, hw, 0, 1),
            b: &xv,
            sb: st(c * hw, 1, 0, hw),
            c: dw,
            sc: st(0, c, 0, 1),
            m: co,
            n: c,
            k: hw,
            blocks: m,
            group: c,
            bias: None,
            accumulate: i > 0,
            relu: false,
        })?;
        if let Some(dx) = &dx {
            // dx [C, (image, pixel)] = Wᵀ [C, Co] · dy [Co, (image, pixel)]
            let dxv = dx.view(s0 * c * hw, &[m * c * hw])?;
            gemm_strided(&StridedGemm {
                a: w,
                sa: st(0, 1, 0, c),
                b: &dyv,
                sb: st(0, hw, co * hw, 1),
                c: &dxv,
                sc: st(0, hw, c * hw, 1),
                m: c,
                n: m * hw,
                k: co,
                blocks: 1,
                group: hw,
                bias: None,
                accumulate: false,
                relu: false,
            })?;
        }
    }
    Ok(dx)
}
