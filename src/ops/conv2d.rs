//! Conv2d forward and backward (input, weight, bias) in two forms that compute the same thing:
//! `Form::Unfold` builds it from `im2col`, `pack`, `matmul`, `col2im` and `reduce` (a 1×1,
//! stride-1, unpadded convolution needs no unfolding: `conv2d_pointwise`, a strided GEMM on
//! the images as they lie);
//! `Form::Direct` reads the images directly (`conv2d_direct`, no unfolded matrix). Which form a
//! layer uses is chosen per adapter and shape: the measured choice of `heft tune` when there
//! is one, else `heuristic`. In the unfolded form images are processed in chunks so that no
//! unfolded matrix exceeds the device's storage-binding limit (AlexNet conv1 at batch 64 would
//! need ~281 MB at once); in both, inputs, outputs and gradients over that limit are bound as
//! views of whole-image chunks.

use super::im2col::{im2col, ConvGeom};
use super::matmul::{matmul_into, pad4, Bias, Gemm, OutMap};
use super::pack::{pack, View};
use super::{col2im::col2im, GradsInto, conv2d_pointwise as pointwise, item_chunks, out_size, reduce};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};

/// How a convolution is computed (both forms give the same sums, up to rounding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// im2col + GEMM (+ col2im for the input gradient).
    Unfold,
    /// `conv2d_direct`: the image read in place.
    Direct,
}

/// The forms, in the order tuning caches number them.
pub const FORMS: [(&str, Form); 2] = [("unfold", Form::Unfold), ("direct", Form::Direct)];

/// The tuning key of a convolution pass: [N, C, H, W, Co, KH, KW, stride, pad, need_dx]
/// (need_dx is 0 for the forward pass and for a backward pass without the input gradient).
pub fn key(g: &ConvGeom, co: usize, need_dx: bool) -> Vec<usize> {
    vec![g.n, g.c, g.h, g.w, co, g.kh, g.kw, g.stride, g.pad, need_dx as usize]
}

/// The form used without measurements: unfolded, whose GEMM variants are tuned per adapter.
pub fn heuristic() -> Form {
    Form::Unfold
}

/// The form of the forward ("conv2d_fwd") or backward ("conv2d_bwd") pass of a layer: the
/// tuned choice for its shape (or the nearest tuned one), else `heuristic`.
pub fn choose(gpu: &Gpu, pass: &'static str, g: &ConvGeom, co: usize, need_dx: bool) -> Form {
    gpu.tuning().lookup(pass, key(g, co, need_dx)).and_then(|i| FORMS.get(i)).map_or_else(heuristic, |f| f.1)
}

/// Largest unfolded matrix one chunk may create (also capped by the binding limit).
const CHUNK_BYTES: u64 = 256 << 20;

/// Check shapes and compute the geometry of `x` [N, C, H, W] * `w` [Co, C, KH, KW].
pub fn geometry(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<ConvGeom> {
    const OP: &str = "conv2d";
    x.expect_rank(OP, "input", 4)?;
    w.expect_rank(OP, "weight", 4)?;
    x.expect_dtype(OP, "input", DType::F32)?;
    let (xs, ws) = (x.shape(), w.shape());
    if xs[1] != ws[1] {
        return Err(Error::shape(OP, format!("input {xs:?} has {} channels, weight {ws:?} expects {}", xs[1], ws[1])));
    }
    let oh = out_size(OP, xs[2], ws[2], stride, pad)?;
    let ow = out_size(OP, xs[3], ws[3], stride, pad)?;
    Ok(ConvGeom { n: xs[0], c: xs[1], h: xs[2], w: xs[3], kh: ws[2], kw: ws[3], stride, pad, oh, ow })
}

/// Images per chunk so that a [nc*OH*OW (padded to 4), width] matrix fits the binding limit.
fn chunk(x: &Tensor, g: &ConvGeom, width: usize) -> Result<usize> {
    let gpu = x.gpu();
    let limit = gpu.max_binding().min(CHUNK_BYTES);
    let per_image = (g.ohw() * width * 4) as u64;
    let pad = (3 * width * 4) as u64; // pad4 of the row count adds up to 3 rows
    if per_image + pad > limit {
        return Err(Error::TooLarge { op: "conv2d", what: "the unfolded input of one image".into(), size: per_image + pad, limit, unit: "bytes" });
    }
    Ok((((limit - pad) / per_image) as usize).clamp(1, g.n))
}

/// y [N, Co, OH, OW] = conv(x, w) + b, in the form `choose` picks; with `relu`, max(y, 0) in the
/// same pass (a convolution and the ReLU after it, as one layer).
pub fn forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize, relu: bool) -> Result<Tensor> {
    let g = geometry(x, w, stride, pad)?;
    forward_with(choose(x.gpu(), "conv2d_fwd", &g, w.shape()[0], false), x, w, b, stride, pad, relu)
}

/// `forward` in the form given (tests and the tuner).
pub fn forward_with(form: Form, x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize, relu: bool) -> Result<Tensor> {
    let g = geometry(x, w, stride, pad)?;
    let co = w.shape()[0];
    if let Some(b) = b {
        b.expect_shape("conv2d", "bias", &[co])?;
    }
    if form == Form::Direct {
        return super::conv2d_direct::forward(x, w, b, &g, relu);
    }
    if pointwise::applies(&g) {
        return pointwise::forward(x, w, b, &g, relu);
    }
    let (k, kp) = (g.k(), pad4(g.k()));
    let gpu = x.gpu();
    let wp = super::pack::pad_cols(&w.reshape(&[co, k])?, kp)?;
    let y = Tensor::empty(gpu, &[g.n, co, g.oh, g.ow], DType::F32)?;
    let (chw, cohw) = (g.c * g.h * g.w, co * g.ohw());
    let bias = b.map_or(Bias::None, Bias::Rows);
    for (s0, m) in item_chunks(gpu, "conv2d", g.n, &[chw, cohw])? {
        let (xv, yv) = (x.view(s0 * chw, &[m, g.c, g.h, g.w])?, y.view(s0 * cohw, &[m * cohw])?);
        let g = ConvGeom { n: m, ..g };
        let nc = chunk(&xv, &g, kp)?;
        for n0 in (0..m).step_by(nc) {
            let nc = nc.min(m - n0);
            let col = im2col(&xv, &g, n0, nc, false, kp)?;
            let map = OutMap { sm: g.ohw(), g: g.ohw(), sg: cohw, sn: 1, base: n0 * cohw };
            matmul_into(&Gemm { a: &wp, b: &col, m: co, n: nc * g.ohw(), kp, bias, c: &yv, map, accumulate: false, relu })?;
        }
    }
    Ok(y)
}

/// The gradients of a convolution: dx (when asked for), dw [Co, C, KH, KW] and db [Co].
pub type Grads = (Option<Tensor>, Tensor, Tensor);

/// Gradients of conv2d: (dx if `need_dx`, dw, db), in the form `choose` picks.
pub fn backward(x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize, need_dx: bool) -> Result<Grads> {
    backward_into(x, w, dy, stride, pad, need_dx, GradsInto::default())
}

/// `backward`, writing dw and db where `into` says.
pub fn backward_into(x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize, need_dx: bool, into: GradsInto) -> Result<Grads> {
    let g = geometry(x, w, stride, pad)?;
    grads(choose(x.gpu(), "conv2d_bwd", &g, w.shape()[0], need_dx), x, w, dy, stride, pad, need_dx, into)
}

/// `backward` in the form given (tests and the tuner).
pub fn backward_with(form: Form, x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize, need_dx: bool) -> Result<Grads> {
    grads(form, x, w, dy, stride, pad, need_dx, GradsInto::default())
}

#[allow(clippy::too_many_arguments)]
fn grads(form: Form, x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize, need_dx: bool, into: GradsInto) -> Result<Grads> {
    let g = geometry(x, w, stride, pad)?;
    let co = w.shape()[0];
    dy.expect_shape("conv2d backward", "dy", &[g.n, co, g.oh, g.ow])?;
    let dw = super::output(x.gpu(), "conv2d backward", w.shape(), into.w)?;
    let dx = match form {
        Form::Direct => {
            super::conv2d_direct::grad_weight(x, dy, &g, &dw)?;
            if need_dx { Some(super::conv2d_direct::grad_input(w, dy, &g)?) } else { None }
        }
        Form::Unfold if pointwise::applies(&g) => pointwise::grads(x, w, dy, &g, need_dx, &dw)?,
        Form::Unfold => unfolded_grads(x, w, dy, &g, need_dx, &dw)?,
    };
    let db = reduce::channel_sums_into(dy, g.n, co, g.ohw(), reduce::Mode::Sum, 1.0, into.b)?;
    Ok((dx, dw, db))
}

/// dx (when `need_dx`) and dw (into `dw` [Co, C, KH, KW]) of the unfolded form: im2col, GEMMs,
/// col2im, image chunk by chunk.
fn unfolded_grads(x: &Tensor, w: &Tensor, dy: &Tensor, g: &ConvGeom, need_dx: bool, dw: &Tensor) -> Result<Option<Tensor>> {
    let (g, co) = (*g, w.shape()[0]);
    let gpu = x.gpu();
    let (k, ohw) = (g.k(), g.ohw());
    let cop = pad4(co);
    // Wᵀ as [K, Co] padded: operand B of the input gradient.
    let wt = if need_dx { Some(pack(w, k, co, cop, View::transposed(k))?) } else { None };
    let dx = if need_dx { Some(Tensor::empty(gpu, &[g.n, g.c, g.h, g.w], DType::F32)?) } else { None };
    let (chw, cohw) = (g.c * g.h * g.w, co * ohw);
    let mut first = true;
    for (s0, m) in item_chunks(gpu, "conv2d", g.n, &[chw, cohw])? {
        let xv = x.view(s0 * chw, &[m, g.c, g.h, g.w])?;
        let dyv = dy.view(s0 * cohw, &[m * cohw])?;
        let dxv = dx.as_ref().map(|dx| dx.view(s0 * chw, &[m, g.c, g.h, g.w])).transpose()?;
        let g = ConvGeom { n: m, ..g };
        // Chunk width: the widest unfolded matrix per image (P rows of K or of Co values).
        let nc = chunk(&xv, &g, k.max(cop))?;
        for n0 in (0..m).step_by(nc) {
            let nc = nc.min(m - n0);
            let p = nc * ohw;
            let pp = pad4(p);
            // dW[co, k] += sum_p dY[co, p] * col[k, p]
            let dy_cp = pack(
                &dyv,
                co,
                p,
                pp,
                View { base: n0 * cohw, gr: usize::MAX >> 1, sgr: 0, sr: ohw, gk: ohw, sgk: cohw, sk: 1 },
            )?;
            let col_t = im2col(&xv, &g, n0, nc, true, pp)?;
            matmul_into(&Gemm { a: &dy_cp, b: &col_t, m: co, n: k, kp: pp, bias: Bias::None, c: dw, map: OutMap::row_major(k), accumulate: !first, relu: false })?;
            first = false;
            drop((dy_cp, col_t));
            if let (Some(wt), Some(dxv)) = (&wt, &dxv) {
                // dcol[p, k] = sum_co dY[co, p] * W[co, k]; then fold back onto the images.
                let dy_pc = pack(
                    &dyv,
                    p,
                    co,
                    cop,
                    View { base: n0 * cohw, gr: ohw, sgr: cohw, sr: 1, gk: usize::MAX >> 1, sgk: 0, sk: ohw },
                )?;
                let dcol = Tensor::empty(gpu, &[p, k], DType::F32)?;
                matmul_into(&Gemm { a: &dy_pc, b: wt, m: p, n: k, kp: cop, bias: Bias::None, c: &dcol, map: OutMap::row_major(k), accumulate: false, relu: false })?;
                col2im(&dcol, &g, n0, nc, dxv)?;
            }
        }
    }
    Ok(dx)
}
