//! Wrapper of `shaders/reduce.wgsl`: deterministic per-channel sums and maxima of a tensor viewed
//! as [outer, C, inner] (two passes in a fixed order, no atomics; one where a workgroup per
//! channel is enough), up to three moments sum x*y^t in one pass (`moments_into`), and batch
//! norm's per-channel mean and variance in one pass (`mean_var_into`).

use super::u;
use crate::gpu::layout::params;
use crate::gpu::shaders::WORKGROUP_1D;
use crate::gpu::Spec;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// sum x
    Sum = 0,
    /// sum x*y
    Dot = 1,
    /// sum x*y*y
    DotSq = 2,
    /// max x
    Max = 3,
    /// sum x*x
    SumSq = 4,
    /// sum (x - aux[c])^2
    CenteredSq = 5,
    /// min x
    Min = 6,
}

/// The shader's mode numbers of `moments_into`, `mean_var_into` and `quad_backward`.
const MOMENTS: u32 = 7;
const MEAN_VAR: u32 = 8;
const QUAD: u32 = 9;

/// The pipeline of each shader mode (the mode is compiled in: `const MODE`).
const SPECS: [Spec; 10] = [
    &[("MODE", 0)],
    &[("MODE", 1)],
    &[("MODE", 2)],
    &[("MODE", 3)],
    &[("MODE", 4)],
    &[("MODE", 5)],
    &[("MODE", 6)],
    &[("MODE", 7)],
    &[("MODE", 8)],
    &[("MODE", 9)],
];

/// Threads of a `partial` workgroup (the shader's workgroup size).
const PARTIAL_THREADS: usize = 64;

params! {
    /// `struct Params` of `shaders/reduce.wgsl`.
    pub(crate) struct Params {
        outer: u32,
        c: u32,
        inner: u32,
        g: u32,
        scale: f32,
        off: u32,
        terms: u32,
        ostride: u32,
        qstep: u32,
        rstep: u32,
    }
}

/// Chunks per channel for `c` channels of `len` elements: at least 512 elements (8 per
/// thread) and at most 32768 per workgroup, and no more chunks than needed for 16 workgroups
/// in all; at most 1024. A single chunk per channel (every layer of SqueezeNet 1.1 at 64 px,
/// batch 32) saves the `finish` pass: for per-channel sums of a CNN layer the dispatch costs
/// more than the parallelism a second pass would buy.
fn chunks(len: usize, c: usize) -> usize {
    const MIN: usize = 512;
    const MAX: usize = 32768;
    const WORKGROUPS: usize = 16;
    let most = len.div_ceil(MIN).clamp(1, 1024);
    len.div_ceil(MAX).max(WORKGROUPS.div_ceil(c.max(1))).clamp(1, most)
}

/// out[off + c] = scale * reduce over the outer*inner elements of channel c.
/// `y` is read by `Dot`/`DotSq` (same layout as x), `aux` [C] by `CenteredSq`.
#[allow(clippy::too_many_arguments)]
pub fn reduce_into(
    x: &Tensor,
    y: Option<&Tensor>,
    aux: Option<&Tensor>,
    (outer, c, inner): (usize, usize, usize),
    mode: Mode,
    scale: f32,
    out: &Tensor,
    off: usize,
) -> Result<()> {
    const OP: &str = "reduce";
    x.expect_dtype(OP, "x", DType::F32)?;
    if outer * c * inner != x.numel() {
        return Err(Error::shape(OP, format!("{:?} is not [{outer}, {c}, {inner}]", x.shape())));
    }
    if let Some(y) = y {
        if y.numel() != x.numel() {
            return Err(Error::shape(OP, format!("y {:?} differs from x {:?}", y.shape(), x.shape())));
        }
    } else if matches!(mode, Mode::Dot | Mode::DotSq) {
        return Err(Error::shape(OP, "this mode needs a second tensor"));
    }
    match aux {
        Some(a) if a.numel() != c => return Err(Error::shape(OP, format!("aux {:?} is not [{c}]", a.shape()))),
        None if mode == Mode::CenteredSq => return Err(Error::shape(OP, "CenteredSq needs per-channel centres")),
        _ => {}
    }
    if out.numel() < off + c {
        return Err(Error::shape(OP, format!("output {:?} too small for {c} values at {off}", out.shape())));
    }
    let gpu = x.gpu();
    if x.bytes() > gpu.max_binding() && outer == 1 && c > 1 {
        // over the binding limit with one outer slice (per-image reductions, [1, N, rest]):
        // whole channels per chunk, each chunk's results straight into out
        let per: &[usize] = if aux.is_some() { &[inner, 1] } else { &[inner] };
        for (c0, m) in super::item_chunks(gpu, OP, c, per)? {
            let (start, len) = (c0 * inner, m * inner);
            let xv = x.view(start, &[len])?;
            let yv = y.map(|y| y.view(start, &[len])).transpose()?;
            let av = aux.map(|a| a.view(c0, &[m])).transpose()?;
            reduce_into(&xv, yv.as_ref(), av.as_ref(), (1, m, inner), mode, scale, out, off + c0)?;
        }
        return Ok(());
    }
    if x.bytes() > gpu.max_binding() {
        // over the binding limit: reduce chunks (of the elements for a whole-tensor reduction,
        // of whole outer slices otherwise) into tmp[chunk, c], then combine the chunks
        let per = c * inner;
        let mut parts = Vec::new(); // (first element, elements, shape of the chunk)
        if outer * c == 1 {
            super::for_chunks(gpu, inner, |s, n| {
                parts.push((s, n, (1, 1, n)));
                Ok(())
            })?;
        } else {
            for (o0, m) in super::item_chunks(gpu, OP, outer, &[per])? {
                parts.push((o0 * per, m * per, (m, c, inner)));
            }
        }
        let tmp = Tensor::empty(gpu, &[parts.len(), c], DType::F32)?;
        for (i, &(start, len, dims)) in parts.iter().enumerate() {
            let xv = x.view(start, &[len])?;
            let yv = y.map(|y| y.view(start, &[len])).transpose()?;
            reduce_into(&xv, yv.as_ref(), aux, dims, mode, scale, &tmp, i * c)?;
        }
        let combine = if matches!(mode, Mode::Max | Mode::Min) { mode } else { Mode::Sum };
        return reduce_into(&tmp, None, None, (parts.len(), c, 1), combine, 1.0, out, off);
    }
    dispatch(x, y, aux, (outer, c, inner), (mode as u32, 1, c), scale, out, off, None)
}

/// The two passes over a tensor that fits one binding: `terms` results per channel, term t's
/// at out[off + t*ostride ..].
#[allow(clippy::too_many_arguments)]
fn dispatch(
    x: &Tensor,
    y: Option<&Tensor>,
    aux: Option<&Tensor>,
    (outer, c, inner): (usize, usize, usize),
    (mode, terms, ostride): (u32, usize, usize),
    scale: f32,
    out: &Tensor,
    off: usize,
    dx: Option<&Tensor>,
) -> Result<()> {
    const OP: &str = "reduce";
    let gpu = x.gpu();
    let g = chunks(outer * inner, c);
    let part = Tensor::empty(gpu, &[terms, c, g], DType::F32)?;
    let params = Params {
        outer: u(OP, outer)?,
        c: u(OP, c)?,
        inner: u(OP, inner)?,
        g: u(OP, g)?,
        scale,
        off: u(OP, off)?,
        terms: terms as u32,
        ostride: u(OP, ostride)?,
        qstep: u(OP, PARTIAL_THREADS / inner.max(1))?,
        rstep: u(OP, PARTIAL_THREADS % inner.max(1))?,
    };
    let spec = SPECS[mode as usize];
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if c > max {
        return Err(Error::TooLarge { op: OP, what: "the channel count".into(), size: c as u64, limit: max as u64, unit: "channels" });
    }
    let bind = [
        ("x", x.bind()),
        ("y", y.unwrap_or(x).bind()),
        ("aux", aux.unwrap_or(x).bind()),
        ("part", part.bind()),
        ("out", out.bind()),
        ("dx", dx.unwrap_or(out).bind()),
    ];
    gpu.dispatch_spec("reduce", "partial", spec, &params, &bind, [g as u32, c as u32, 1])?;
    if g == 1 {
        return Ok(()); // the partial pass wrote `out`
    }
    gpu.dispatch_spec("reduce", "finish", spec, &params, &bind, [(terms * c).div_ceil(WORKGROUP_1D as usize) as u32, 1, 1])
}

/// out[off + t*ostride + c] = scale * sum over channel c of x*y^t, for t < `terms` (1 to 3; y
/// is needed from 2 terms on; ostride >= C), in one pass over x and y: the same sums, in the
/// same order, as `reduce_into` with `Sum`, `Dot` and `DotSq`.
#[allow(clippy::too_many_arguments)]
pub fn moments_into(x: &Tensor, y: Option<&Tensor>, dims: (usize, usize, usize), terms: usize, scale: f32, out: &Tensor, off: usize, ostride: usize) -> Result<()> {
    const OP: &str = "reduce";
    let (outer, c, inner) = dims;
    if !(1..=3).contains(&terms) || (terms > 1 && y.is_none()) {
        return Err(Error::Invalid(format!("{OP}: {terms} moments (1 to 3; y needed from 2 on)")));
    }
    if outer * c * inner != x.numel() || y.is_some_and(|y| y.numel() != x.numel()) {
        return Err(Error::shape(OP, format!("x {:?} (and y) are not [{outer}, {c}, {inner}]", x.shape())));
    }
    if ostride < c || out.numel() < off + (terms - 1) * ostride + c {
        return Err(Error::shape(OP, format!("output {:?} too small for {terms}x{c} values at {off}, {ostride} apart", out.shape())));
    }
    if x.bytes() > x.gpu().max_binding() {
        // reduce_into splits work over the binding limit
        for (t, mode) in [Mode::Sum, Mode::Dot, Mode::DotSq].into_iter().take(terms).enumerate() {
            reduce_into(x, y, None, dims, mode, scale, out, off + t * ostride)?;
        }
        return Ok(());
    }
    dispatch(x, y, None, dims, (MOMENTS, terms, ostride), scale, out, off, None)
}

/// Batch norm's statistics of x [outer, C, inner]: out[off + c] = the mean of channel c and
/// out[off + ostride + c] = its biased variance. One pass (sums of x - s_c and its square, s_c
/// the channel's first element, so the variance does not cancel when the mean is large against
/// the spread); over the binding limit, two (the mean, then the centred squares).
pub fn mean_var_into(x: &Tensor, dims: (usize, usize, usize), out: &Tensor, off: usize, ostride: usize) -> Result<()> {
    const OP: &str = "reduce";
    let (outer, c, inner) = dims;
    x.expect_dtype(OP, "x", DType::F32)?;
    if outer * c * inner != x.numel() || outer * inner == 0 {
        return Err(Error::shape(OP, format!("x {:?} is not [{outer}, {c}, {inner}]", x.shape())));
    }
    if ostride < c || out.numel() < off + ostride + c {
        return Err(Error::shape(OP, format!("output {:?} too small for 2x{c} values at {off}, {ostride} apart", out.shape())));
    }
    let scale = 1.0 / (outer * inner) as f32;
    if x.bytes() > x.gpu().max_binding() {
        let mean = channel_sums(x, outer, c, inner, Mode::Sum, scale)?;
        reduce_into(x, None, Some(&mean), dims, Mode::CenteredSq, scale, out, off + ostride)?;
        return out.view(off, &[c])?.copy_from(&mean);
    }
    dispatch(x, None, None, dims, (MEAN_VAR, 2, ostride), scale, out, off, None)
}

/// The quadratic activation's backward in one pass over x and dy [n] (mode 9): dx [n] = dy ·
/// (r·(c1 + 2·c2·x) + (1 - r)·(x > 0)), what `quad.wgsl`'s backward computes, and dcoef[t] =
/// r · sum dy·x^t for t < `terms` (2 or 3), the sums `moments_into` makes. x must fit one
/// binding (`quad::backward` splits larger ones).
pub fn quad_backward(dy: &Tensor, x: &Tensor, coef: &Tensor, r: f32, terms: usize, dx: &Tensor, dcoef: &Tensor) -> Result<()> {
    const OP: &str = "quad backward";
    let n = x.numel();
    if dy.numel() != n || dx.numel() != n || coef.numel() != 3 || !(2..=3).contains(&terms) || dcoef.numel() < terms {
        return Err(Error::shape(OP, format!("x {:?}, dy {:?}, dx {:?}, coef {:?}, dcoef {:?} ({terms} terms)", x.shape(), dy.shape(), dx.shape(), coef.shape(), dcoef.shape())));
    }
    x.gpu().check_binding(OP, "x", x.bytes())?;
    dispatch(dy, Some(x), Some(coef), (1, 1, n), (QUAD, terms, 1), r, dcoef, 0, Some(dx))
}

/// Per-channel reduction into a new [C] tensor.
pub fn channel_sums(x: &Tensor, outer: usize, c: usize, inner: usize, mode: Mode, scale: f32) -> Result<Tensor> {
    channel_sums_into(x, outer, c, inner, mode, scale, None)
}

/// `channel_sums` written into `into` [C] when given (a bias's gradient slot), else a new tensor.
pub fn channel_sums_into(x: &Tensor, outer: usize, c: usize, inner: usize, mode: Mode, scale: f32, into: Option<&Tensor>) -> Result<Tensor> {
    let out = super::output(x.gpu(), "reduce", &[c], into)?;
    reduce_into(x, None, None, (outer, c, inner), mode, scale, &out, 0)?;
    Ok(out)
}

/// Sum of all elements, as a [1] tensor.
pub fn sum(x: &Tensor) -> Result<Tensor> {
    channel_sums(x, 1, 1, x.numel(), Mode::Sum, 1.0)
}

/// Maximum of all elements, as a [1] tensor.
pub fn max(x: &Tensor) -> Result<Tensor> {
    channel_sums(x, 1, 1, x.numel(), Mode::Max, 1.0)
}
