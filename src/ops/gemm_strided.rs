//! Wrapper of `shaders/gemm_strided.wgsl`: a batched GEMM whose operands are read through
//! element strides, so tensors are used where they lie (the 1×1 convolutions of `conv2d`).

use super::u;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// Element (i, j) of a batched, blocked matrix operand is at `z*sz + r*sr + i*si + j*sj`
/// (z the batch entry, r the reduction block; i, j the row and column).
#[derive(Clone, Copy, Debug)]
pub struct Strides {
    pub sz: usize,
    pub sr: usize,
    pub si: usize,
    pub sj: usize,
}

/// One batched product: for z < `batch`, C[z] (+)= sum over r < `blocks` of A(z, r) · B(z, r)
/// with A(z, r) [m, k], B(z, r) [k, n] (+ bias[m]). C's strides use `sr` = 0.
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
    pub batch: usize,
    pub bias: Option<&'a Tensor>,
    pub accumulate: bool,
}

/// `struct Params` of `shaders/gemm_strided.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    m: u32,
    n: u32,
    k: u32,
    r: u32,
    saz: u32,
    sar: u32,
    sam: u32,
    sak: u32,
    sbz: u32,
    sbr: u32,
    sbk: u32,
    sbn: u32,
    scz: u32,
    scm: u32,
    scn: u32,
    bias_rows: u32,
    accumulate: u32,
}

/// Largest element index of an operand with `dims` (batch, blocks, rows, columns) read through `s`.
fn last(s: &Strides, (z, r, i, j): (usize, usize, usize, usize)) -> usize {
    (z - 1) * s.sz + (r - 1) * s.sr + (i - 1) * s.si + (j - 1) * s.sj
}

/// Run the product; every index the kernel forms is checked to lie inside its tensor first.
pub fn gemm_strided(g: &StridedGemm) -> Result<()> {
    const OP: &str = "gemm_strided";
    let StridedGemm { a, sa, b, sb, c, sc, m, n, k, blocks, batch, bias, accumulate } = *g;
    for (t, name) in [(a, "A"), (b, "B"), (c, "C")] {
        t.expect_dtype(OP, name, DType::F32)?;
        t.gpu().check_binding(OP, name, t.bytes())?;
    }
    if m == 0 || n == 0 || batch == 0 {
        return Ok(());
    }
    if k == 0 || blocks == 0 {
        return Err(Error::shape(OP, format!("an empty reduction ({blocks} blocks of {k})")));
    }
    for (t, name, s, dims) in [(a, "A", &sa, (batch, blocks, m, k)), (b, "B", &sb, (batch, blocks, k, n)), (c, "C", &sc, (batch, 1, m, n))] {
        let top = last(s, dims);
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
    let groups = [n.div_ceil(64), m.div_ceil(64), batch];
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if let Some(&big) = groups.iter().find(|&&v| v > max) {
        return Err(Error::TooLarge { op: OP, what: format!("a {batch}x{m}x{n} product"), size: big as u64, limit: max as u64, unit: "workgroups per dimension" });
    }
    let params = Params {
        m: u(OP, m)?,
        n: u(OP, n)?,
        k: u(OP, k)?,
        r: u(OP, blocks)?,
        saz: u(OP, sa.sz)?,
        sar: u(OP, sa.sr)?,
        sam: u(OP, sa.si)?,
        sak: u(OP, sa.sj)?,
        sbz: u(OP, sb.sz)?,
        sbr: u(OP, sb.sr)?,
        sbk: u(OP, sb.si)?,
        sbn: u(OP, sb.sj)?,
        scz: u(OP, sc.sz)?,
        scm: u(OP, sc.si)?,
        scn: u(OP, sc.sj)?,
        bias_rows: bias.is_some() as u32,
        accumulate: accumulate as u32,
    };
    let bind = [(1, a.bind()), (2, b.bind()), (3, bias_buf), (4, c.bind())];
    gpu.dispatch("gemm_strided", "main", &params, &bind, [groups[0] as u32, groups[1] as u32, groups[2] as u32])
}
