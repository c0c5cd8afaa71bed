//! Wrapper of `shaders/matmul.wgsl`: C[m, n] = sum_k A[m, k] * B[n, k] ("NT" GEMM, K padded to 4).

use super::{pack, u};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};

/// Where the GEMM writes C[m, n]: `base + m*sm + (n / g)*sg + (n % g)*sn`.
#[derive(Clone, Copy, Debug)]
pub struct OutMap {
    pub sm: usize,
    pub g: usize,
    pub sg: usize,
    pub sn: usize,
    pub base: usize,
}

impl OutMap {
    pub fn row_major(n: usize) -> OutMap {
        OutMap { sm: n, g: n, sg: 0, sn: 1, base: 0 }
    }
}

#[derive(Clone, Copy)]
pub enum Bias<'a> {
    None,
    /// bias[m] added to row m.
    Rows(&'a Tensor),
    /// bias[n] added to column n.
    Cols(&'a Tensor),
}

/// The raw GEMM: `a` is [m, kp] and `b` is [n, kp] with kp a multiple of 4 (already padded).
#[allow(clippy::too_many_arguments)]
pub fn matmul_into(
    a: &Tensor,
    b: &Tensor,
    m: usize,
    n: usize,
    kp: usize,
    bias: Bias<'_>,
    c: &Tensor,
    map: OutMap,
    accumulate: bool,
) -> Result<()> {
    const OP: &str = "matmul";
    let gpu = a.gpu();
    if !kp.is_multiple_of(4) || a.numel() < m * kp || b.numel() < n * kp {
        return Err(Error::shape(OP, format!("operands {:?} x {:?} do not hold [{m},{kp}] x [{n},{kp}]", a.shape(), b.shape())));
    }
    for (t, name) in [(a, "A"), (b, "B"), (c, "C")] {
        gpu.check_binding(OP, name, t.bytes())?;
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    // Every index matmul.wgsl forms must be in bounds: wgpu would otherwise clamp or drop the
    // access silently. A and B rows are clamped to M-1 / N-1 (sizes checked above); C's largest
    // index is the map's value at (M-1, N-1), bounded term by term; bias is [M] or [N].
    let g = map.g.max(1);
    let last = map.base + (m - 1) * map.sm + ((n - 1) / g) * map.sg + (n - 1).min(g - 1) * map.sn;
    if last >= c.numel() {
        return Err(Error::shape(OP, format!("output map {map:?} of a {m}x{n} product reaches element {last} of C {:?}", c.shape())));
    }
    let (mode, bias_buf, bias_len) = match bias {
        Bias::None => (0, gpu.dummy(), 0),
        Bias::Rows(t) => (1, t.bind(), m),
        Bias::Cols(t) => (2, t.bind(), n),
    };
    if bias_buf.size < bias_len as u64 * 4 {
        return Err(Error::shape(OP, format!("bias of {} values is shorter than {bias_len}", bias_buf.size / 4)));
    }
    let params = [
        u(OP, m)?,
        u(OP, n)?,
        u(OP, kp / 4)?,
        u(OP, map.sm)?,
        u(OP, g)?,
        u(OP, map.sg)?,
        u(OP, map.sn)?,
        u(OP, map.base)?,
        mode,
        accumulate as u32,
    ];
    let gx = n.div_ceil(64) as u64;
    let gy = m.div_ceil(64) as u64;
    let max = gpu.limits().max_compute_workgroups_per_dimension as u64;
    if gx > max || gy > max {
        return Err(Error::TooLarge { op: OP, what: format!("a {m}x{n} output"), size: gx.max(gy), limit: max, unit: "workgroups per dimension" });
    }
    let bind = [(1, a.bind()), (2, b.bind()), (3, bias_buf), (4, c.bind())];
    gpu.dispatch("matmul", "main", &params, &bind, [gx as u32, gy as u32, 1])
}

/// Round `k` up to a multiple of 4.
pub fn pad4(k: usize) -> usize {
    k.div_ceil(4) * 4
}

/// C = A · Bᵀ for A [M, K] and B [N, K] (both row-major); returns [M, N].
pub fn matmul_nt(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "matmul";
    a.expect_rank(OP, "A", 2)?;
    b.expect_rank(OP, "B", 2)?;
    a.expect_dtype(OP, "A", DType::F32)?;
    b.expect_dtype(OP, "B", DType::F32)?;
    let (m, k) = (a.shape()[0], a.shape()[1]);
    let n = b.shape()[0];
    if b.shape()[1] != k {
        return Err(Error::shape(OP, format!("A {:?} and B {:?} differ in K", a.shape(), b.shape())));
    }
    let gpu: &Gpu = a.gpu();
    let ap = pack::pad_cols(a, pad4(k))?;
    let bp = pack::pad_cols(b, pad4(k))?;
    let c = Tensor::empty(gpu, &[m, n], DType::F32)?;
    matmul_into(&ap, &bp, m, n, pad4(k), Bias::None, &c, OutMap::row_major(n), false)?;
    Ok(c)
}
