//! Wrapper of `shaders/gemm_strided.wgsl` and its subgroup form `gemm_strided_bcast.wgsl`: a GEMM whose operands are read through element
//! strides, so tensors are used where they lie (the 1×1 convolutions of `conv2d_pointwise`):
//! C(m, n) (+)= sum over blocks r and k of A(r, m, k) · B(r, k, n) (+ bias[m]), with the columns
//! n of B and C in groups of `group` (the pixels of one image, images one after another).

use super::u;
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

/// Element (r, i, j) of an operand is at `r*sr + i*si + (j / group)*sg + (j % group)*sj`
/// (r the reduction block, i the row, j the column). A's columns are not grouped: give it
/// `sg = 0` (its columns are k < K, read at k*sj). C has no blocks: give it `sr = 0`.
#[derive(Clone, Copy, Debug)]
pub struct Strides {
    pub sr: usize,
    pub si: usize,
    pub sg: usize,
    pub sj: usize,
}

/// One product: A(r) [m, k], B(r) [k, n], C [m, n], summed over r < `blocks`.
pub struct StridedGemm<'a> {
    pub a: &'a Tensor,
    pub sa: Strides,
    pub b: &'a Tensor,
    pub sb: Strides,
    pub c: &'a Tensor,
    pub sc: Strides,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub blocks: usize,
    /// Columns per group of B and C (n when they are not grouped).
    pub group: usize,
    pub bias: Option<&'a Tensor>,
    pub accumulate: bool,
    /// Store max(·, 0) (after the bias and the accumulation).
    pub relu: bool,
}

params! {
    /// `struct Params` of both forms (`shaders/gemm_strided_common.wgsl`).
    pub(crate) struct Params {
        m: u32,
        n: u32,
        k: u32,
        r: u32,
        g: u32,
        sar: u32,
        sam: u32,
        sak: u32,
        sbr: u32,
        sbk: u32,
        sbg: u32,
        sbn: u32,
        scm: u32,
        scg: u32,
        scn: u32,
        bias_rows: u32,
        accumulate: u32,
        relu: u32,
    }
}

/// Largest element index of an operand of `blocks` x `rows` x `cols` read through `s` with
/// columns in groups of `g` (bounded term by term, as the kernel adds them).
fn last(s: &Strides, blocks: usize, rows: usize, cols: usize, g: usize) -> usize {
    (blocks - 1) * s.sr + (rows - 1) * s.si + ((cols - 1) / g) * s.sg + (cols - 1).min(g - 1) * s.sj
}

/// The two forms of the kernel; both compute the same product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `gemm_strided.wgsl`: an 8x8 tile per invocation, registers only.
    Register,
    /// `gemm_strided_bcast.wgsl`: one subgroup of 8 per 32x16 block, B shared between lanes.
    Broadcast,
}

impl Form {
    /// The form for this adapter: on CPU drivers with subgroups of 8 the broadcast form
    /// (SqueezeNet's 1×1 convolutions about 1.3× faster on llvmpipe, BENCHMARKS.md), else the
    /// register-blocked one.
    pub fn choose(gpu: &crate::gpu::Gpu) -> Form {
        match gpu.info().device_type {
            wgpu::DeviceType::Cpu if Form::Broadcast.available(gpu) => Form::Broadcast,
            _ => Form::Register,
        }
    }

    pub fn available(self, gpu: &crate::gpu::Gpu) -> bool {
        self == Form::Register || gpu.has_subgroups(8)
    }

    /// Shader name, its specialisation and the block of C (rows, columns) per workgroup: the
    /// broadcast form's block is 8R x 8C for the R and C it sets.
    fn kernel(self) -> (&'static str, crate::gpu::Spec, (usize, usize)) {
        const RC: (u32, u32) = (4, 2);
        match self {
            Form::Register => ("gemm_strided", &[], (64, 64)),
            Form::Broadcast => ("gemm_strided_bcast", &[("R", RC.0), ("C", RC.1)], (8 * RC.0 as usize, 8 * RC.1 as usize)),
        }
    }
}

/// Run the product in the form `Form::choose` picks.
pub fn gemm_strided(p: &StridedGemm) -> Result<()> {
    gemm_strided_with(Form::choose(p.a.gpu()), p)
}

/// Run the product in `form`; every index the kernel forms is checked to lie inside its tensor
/// first.
pub fn gemm_strided_with(form: Form, p: &StridedGemm) -> Result<()> {
    const OP: &str = "gemm_strided";
    let StridedGemm { a, sa, b, sb, c, sc, m, n, k, blocks, group, bias, accumulate, relu } = *p;
    for (t, name) in [(a, "A"), (b, "B"), (c, "C")] {
        t.expect_dtype(OP, name, DType::F32)?;
        t.gpu().check_binding(OP, name, t.bytes())?;
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 || blocks == 0 || group == 0 {
        return Err(Error::shape(OP, format!("an empty reduction ({blocks} blocks of {k}) or column group ({group})")));
    }
    if sa.sg != 0 || sc.sr != 0 {
        return Err(Error::shape(OP, "A's columns are not grouped and C has no blocks: their sg and sr must be 0"));
    }
    let g = group.min(n);
    let bounds = [(a, "A", &sa, blocks, m, k, k), (b, "B", &sb, blocks, k, n, g), (c, "C", &sc, 1, m, n, g)];
    for (t, name, s, r, rows, cols, g) in bounds {
        let top = last(s, r, rows, cols, g);
        if top >= t.numel() {
            return Err(Error::shape(OP, format!("{name} read through {s:?} reaches element {top} of {:?}", t.shape())));
        }
    }
    let gpu = a.gpu();
    let bias_buf = match bias {
        Some(t) if t.numel() < m => return Err(Error::shape(OP, format!("bias {:?} is shorter than {m}", t.shape()))),
        Some(t) => t.bind(),
        None => gpu.dummy(),
    };
    if !form.available(gpu) {
        return Err(Error::Invalid(format!("the {form:?} form of the strided GEMM needs subgroups of 8, which {} lacks", gpu.describe())));
    }
    let (shader, spec, tile) = form.kernel();
    let groups = [n.div_ceil(tile.1), m.div_ceil(tile.0)];
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if let Some(&big) = groups.iter().find(|&&v| v > max) {
        return Err(Error::TooLarge { op: OP, what: format!("a {m}x{n} product"), size: big as u64, limit: max as u64, unit: "workgroups per dimension" });
    }
    let params = Params {
        m: u(OP, m)?,
        n: u(OP, n)?,
        k: u(OP, k)?,
        r: u(OP, blocks)?,
        g: u(OP, g)?,
        sar: u(OP, sa.sr)?,
        sam: u(OP, sa.si)?,
        sak: u(OP, sa.sj)?,
        sbr: u(OP, sb.sr)?,
        sbk: u(OP, sb.si)?,
        sbg: u(OP, sb.sg)?,
        sbn: u(OP, sb.sj)?,
        scm: u(OP, sc.si)?,
        scg: u(OP, sc.sg)?,
        scn: u(OP, sc.sj)?,
        bias_rows: bias.is_some() as u32,
        accumulate: accumulate as u32,
        relu: relu as u32,
    };
    let bind = [("a", a.bind()), ("b", b.bind()), ("bias", bias_buf), ("c", c.bind())];
    gpu.dispatch_spec(shader, "main", spec, &params, &bind, [groups[0] as u32, groups[1] as u32, 1])
}
