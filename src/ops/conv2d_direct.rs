//! Wrapper of `shaders/conv2d_direct.wgsl`: convolution forward, input gradient and weight
//! gradient that read the image directly, without the unfolded matrix of im2col. The weights
//! (or the output gradient) are laid out channel-blocked first (`pack`). `conv2d` chooses this
//! form or im2col + GEMM per layer shape.

use super::im2col::{ConvGeom, GeomParams};
use super::pack::{pack, View};
use super::{item_chunks, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::gpu::{Gpu, Spec};
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/conv2d_direct.wgsl`.
    pub(crate) struct Params {
        geom: GeomParams,
        co: u32,
        n0: u32,
        nc: u32,
        p: u32,
        cb4: u32,
        bias_mode: u32,
        accumulate: u32,
        relu: u32,
    }
}

/// Threads a workgroup, and output pixels a thread of `forward` owns (the shader's `TW`, `PB`).
const TW: usize = 64;
const PB: usize = 4;
const SHADER: &str = "conv2d_direct";

/// The channel block a thread owns, as the shader's `CB`: 16 channels where the op has at
/// least 16, else 4 (fewer idle lanes on narrow layers such as a grayscale input).
fn block(channels: usize) -> (Spec, usize) {
    const CB16: Spec = &[("CB", 16)];
    const CB4: Spec = &[("CB", 4)];
    if channels >= 16 {
        (CB16, 16)
    } else {
        (CB4, 4)
    }
}

/// Everything a dispatch needs besides its images and thread count.
struct Call<'a> {
    entry: &'static str,
    g: &'a ConvGeom,
    co: usize,
    spec: Spec,
    cb: usize,
    /// Row length (in f32) of the channel-blocked operand.
    width: usize,
    bias_mode: u32,
    /// The forward's outputs stored as max(·, 0).
    relu: bool,
}

impl Call<'_> {
    fn run(&self, gpu: &Gpu, n0: usize, nc: usize, threads: usize, accumulate: bool, bind: &[crate::gpu::Binding]) -> Result<()> {
        let op = "conv2d";
        let groups = threads.div_ceil(TW);
        let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
        if groups > max {
            return Err(Error::TooLarge { op, what: format!("{threads} threads of {SHADER}::{}", self.entry), size: groups as u64, limit: max as u64, unit: "workgroups per dimension" });
        }
        let params = Params {
            geom: GeomParams::new(op, self.g)?,
            co: u(op, self.co)?,
            n0: u(op, n0)?,
            nc: u(op, nc)?,
            p: u(op, threads)?,
            cb4: u(op, self.width / 4)?,
            bias_mode: self.bias_mode,
            accumulate: accumulate as u32,
            relu: self.relu as u32,
        };
        let blocks = (self.width / self.cb) as u32;
        gpu.dispatch_spec(SHADER, self.entry, self.spec, &params, bind, [groups as u32, blocks, 1])
    }
}

/// Images per dispatch so that `per_image` threads each stay within the workgroup limit.
fn images_per_dispatch(gpu: &Gpu, per_image: usize) -> usize {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize * TW;
    (max / per_image.max(1)).max(1)
}

/// y [N, Co, OH, OW] = conv(x, w) + b, for the geometry `g` of x [N, C, H, W] * w [Co, C, KH, KW].
pub fn forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeom, relu: bool) -> Result<Tensor> {
    let gpu = x.gpu();
    let (co, k, ohw) = (w.shape()[0], g.k(), g.ohw());
    let (spec, cb) = block(co);
    let width = co.next_multiple_of(cb);
    let wt = pack(w, k, co, width, View::transposed(k))?;
    let y = Tensor::empty(gpu, &[g.n, co, g.oh, g.ow], DType::F32)?;
    let call = Call { entry: "forward", g, co, spec, cb, width, bias_mode: b.is_some() as u32, relu };
    let bias = b.map_or(gpu.dummy(), |b| b.bind());
    let (chw, cohw) = (g.c * g.h * g.w, co * ohw);
    for (s0, m) in item_chunks(gpu, "conv2d", g.n, &[chw, cohw])? {
        let (xv, yv) = (x.view(s0 * chw, &[m * chw])?, y.view(s0 * cohw, &[m * cohw])?);
        let per_image = g.oh * g.ow.div_ceil(PB);
        let step = images_per_dispatch(gpu, per_image);
        for n0 in (0..m).step_by(step) {
            let nc = step.min(m - n0);
            call.run(gpu, n0, nc, nc * per_image, false, &[("src", xv.bind()), ("blk", wt.bind()), ("bias", bias), ("dst", yv.bind())])?;
        }
    }
    Ok(y)
}

/// dx [N, C, H, W] from dy [N, Co, OH, OW] and w [Co, C, KH, KW].
pub fn grad_input(w: &Tensor, dy: &Tensor, g: &ConvGeom) -> Result<Tensor> {
    let gpu = w.gpu();
    let (co, khw, hw) = (w.shape()[0], g.kh * g.kw, g.h * g.w);
    let (spec, cb) = block(g.c);
    let width = g.c.next_multiple_of(cb);
    // wr[(co*KH + kh)*KW + kw, c] = w[co, c, kh, kw]
    let wr = pack(w, co * khw, g.c, width, View { base: 0, gr: khw, sgr: g.c * khw, sr: 1, gk: usize::MAX >> 1, sgk: 0, sk: khw })?;
    let dx = Tensor::empty(gpu, &[g.n, g.c, g.h, g.w], DType::F32)?;
    let call = Call { entry: "grad_input", g, co, spec, cb, width, bias_mode: 0, relu: false };
    let (chw, cohw) = (g.c * hw, co * g.ohw());
    for (s0, m) in item_chunks(gpu, "conv2d", g.n, &[chw, cohw])? {
        let (dyv, dxv) = (dy.view(s0 * cohw, &[m * cohw])?, dx.view(s0 * chw, &[m * chw])?);
        let step = images_per_dispatch(gpu, hw);
        for n0 in (0..m).step_by(step) {
            let nc = step.min(m - n0);
            call.run(gpu, n0, nc, nc * hw, false, &[("src", dyv.bind()), ("blk", wr.bind()), ("dst", dxv.bind())])?;
        }
    }
    Ok(dx)
}

/// dw [Co, C, KH, KW] (written into `dw`) from x [N, C, H, W] and dy [N, Co, OH, OW] (sums over
/// images in a fixed order: chunk by chunk, each added to the previous ones).
pub fn grad_weight(x: &Tensor, dy: &Tensor, g: &ConvGeom, dw: &Tensor) -> Result<()> {
    let gpu = x.gpu();
    let (k, ohw) = (g.k(), g.ohw());
    let co = dw.shape()[0];
    dw.expect_shape("conv2d backward", "dw", &[co, g.c, g.kh, g.kw])?;
    let (spec, cb) = block(co);
    let width = co.next_multiple_of(cb);
    let call = Call { entry: "grad_weight", g, co, spec, cb, width, bias_mode: 0, relu: false };
    let (chw, cohw) = (g.c * g.h * g.w, co * ohw);
    // images whose transposed output gradient [nc*OH*OW, width] fits one binding
    let per = (gpu.max_binding() / (ohw * width * 4) as u64).max(1) as usize;
    let mut first = true;
    for (s0, m) in item_chunks(gpu, "conv2d", g.n, &[chw, cohw])? {
        let (xv, dyv) = (x.view(s0 * chw, &[m * chw])?, dy.view(s0 * cohw, &[m * cohw])?);
        for n0 in (0..m).step_by(per) {
            let nc = per.min(m - n0);
            // dyT[(i*OH + oh)*OW + ow, co] = dy[n0 + i, co, oh, ow]
            let view = View { base: n0 * cohw, gr: ohw, sgr: cohw, sr: 1, gk: usize::MAX >> 1, sgk: 0, sk: ohw };
            let dyt = pack(&dyv, nc * ohw, co, width, view)?;
            call.run(gpu, n0, nc, k, !first, &[("src", xv.bind()), ("blk", dyt.bind()), ("dst", dw.bind())])?;
            first = false;
        }
    }
    Ok(())
}
