//! Wrapper of the GEMM kernels: C[m, n] = sum_k A[m, k] * B[n, k] ("NT" GEMM, K padded to 4).
//! Several forms share one contract (`shaders/matmul.wgsl` and its `matmul_*` variants); which
//! one a product uses is chosen per adapter and shape: the measured choice of `heft tune` when
//! the GPU has one for that shape, else `heuristic`.

use super::{pack, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::gpu::{Gpu, Spec};
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of every matmul shader.
    pub(crate) struct Params {
        m: u32,
        n: u32,
        k4: u32,
        sm: u32,
        g: u32,
        sg: u32,
        sn: u32,
        base: u32,
        bias_mode: u32,
        accumulate: u32,
        relu: u32,
    }
}

/// One form of the GEMM. All compute the same product; which is fastest depends on the adapter
/// (CPU drivers want no workgroup memory, GPUs want it) and on the shape.
pub struct Variant {
    pub name: &'static str,
    shader: &'static str,
    spec: Spec,
    /// Rows (M) and columns (N) of C per workgroup.
    tile: (usize, usize),
    /// Subgroups of at least this many invocations are needed (0: none).
    subgroup: u32,
}

impl Variant {
    pub fn available(&self, gpu: &Gpu) -> bool {
        self.subgroup == 0 || gpu.has_subgroups(self.subgroup)
    }
}

/// The GEMM variants; tuning caches refer to them by name.
pub const VARIANTS: [Variant; 8] = [
    // 8x8 outputs per thread from vec4 loads, no workgroup memory (matmul.wgsl)
    Variant { name: "register", shader: "matmul", spec: &[], tile: (64, 64), subgroup: 0 },
    // K split over 8 invocations per 8x8 tile, partial tiles added in workgroup memory
    Variant { name: "splitk", shader: "matmul_splitk", spec: &[], tile: (8, 8), subgroup: 0 },
    // the same split, added with subgroupAdd
    Variant { name: "subgroup", shader: "matmul_subgroup", spec: &[], tile: (8, 8), subgroup: 8 },
    // workgroup-memory tiles of 64x64 (4x4 per thread) and 128x128 (8x8 per thread)
    Variant { name: "tiled64", shader: "matmul_tiled", spec: &[("TM", 4)], tile: (64, 64), subgroup: 0 },
    Variant { name: "tiled128", shader: "matmul_tiled", spec: &[("TM", 8)], tile: (128, 128), subgroup: 0 },
    // one subgroup of 8 per 16x16, 16x32 or 32x32 block, B shared between lanes by subgroupBroadcast
    Variant { name: "bcast22", shader: "matmul_bcast", spec: &[("R", 2), ("C", 2)], tile: (16, 16), subgroup: 8 },
    Variant { name: "bcast24", shader: "matmul_bcast", spec: &[("R", 2), ("C", 4)], tile: (16, 32), subgroup: 8 },
    Variant { name: "bcast44", shader: "matmul_bcast", spec: &[("R", 4), ("C", 4)], tile: (32, 32), subgroup: 8 },
];

/// Index of the variant called `name`.
pub fn variant_index(name: &str) -> Option<usize> {
    VARIANTS.iter().position(|v| v.name == name)
}

/// The variant a product of this shape uses without measurements: on CPU drivers (lavapipe,
/// SwiftShader), where workgroup memory and barriers are slow, the subgroup-broadcast form
/// where subgroups of 8 exist (1.3–3× the best earlier variant on llvmpipe's step shapes,
/// BENCHMARKS.md), else the register-blocked form; on GPUs workgroup-memory tiles, 128x128
/// where the output holds several such blocks.
pub fn heuristic(gpu: &Gpu, m: usize, n: usize) -> usize {
    let name = match gpu.info().device_type {
        wgpu::DeviceType::Cpu if gpu.has_subgroups(8) => "bcast22",
        wgpu::DeviceType::Cpu => "register",
        _ if m >= 256 && n >= 256 => "tiled128",
        _ => "tiled64",
    };
    variant_index(name).unwrap_or(0)
}

/// The variant `matmul_into` uses for an [m, kp] x [n, kp] product, and whether it was tuned:
/// the tuned choice for this shape (or the nearest tuned one) when it runs here, else
/// `heuristic`.
pub fn choose(gpu: &Gpu, m: usize, n: usize, kp: usize) -> (usize, bool) {
    match gpu.tuning().lookup("matmul", vec![m, n, kp]) {
        Some(i) if VARIANTS.get(i).is_some_and(|v| v.available(gpu)) => (i, true),
        _ => (heuristic(gpu, m, n), false),
    }
}

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

/// One product for the raw GEMM: C (through `map`) = A · Bᵀ (+ bias) (+ C's old values when
/// `accumulate`), with `a` [m, kp] and `b` [n, kp], kp a multiple of 4 (already padded).
pub struct Gemm<'a> {
    pub a: &'a Tensor,
    pub b: &'a Tensor,
    pub m: usize,
    pub n: usize,
    pub kp: usize,
    pub bias: Bias<'a>,
    pub c: &'a Tensor,
    pub map: OutMap,
    pub accumulate: bool,
    /// Store max(·, 0) (after the bias and the accumulation).
    pub relu: bool,
}

/// The raw GEMM with the variant `choose` picks for its shape.
pub fn matmul_into(gemm: &Gemm) -> Result<()> {
    let (variant, _) = choose(gemm.a.gpu(), gemm.m, gemm.n, gemm.kp);
    matmul_into_with(variant, gemm)
}

/// `matmul_into` with the variant given (an index of `VARIANTS`): tests and the tuner.
pub fn matmul_into_with(variant: usize, gemm: &Gemm) -> Result<()> {
    let Gemm { a, b, m, n, kp, bias, c, map, accumulate, relu } = *gemm;
    const OP: &str = "matmul";
    let gpu = a.gpu();
    let v = VARIANTS.get(variant).filter(|v| v.available(gpu)).ok_or_else(|| {
        Error::Invalid(format!("GEMM variant {variant} does not exist or needs features {} lacks", gpu.describe()))
    })?;
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
    let params = Params {
        m: u(OP, m)?,
        n: u(OP, n)?,
        k4: u(OP, kp / 4)?,
        sm: u(OP, map.sm)?,
        g: u(OP, g)?,
        sg: u(OP, map.sg)?,
        sn: u(OP, map.sn)?,
        base: u(OP, map.base)?,
        bias_mode: mode,
        accumulate: accumulate as u32,
        relu: relu as u32,
    };
    let gx = n.div_ceil(v.tile.1) as u64;
    let gy = m.div_ceil(v.tile.0) as u64;
    let max = gpu.limits().max_compute_workgroups_per_dimension as u64;
    if gx > max || gy > max {
        return Err(Error::TooLarge { op: OP, what: format!("a {m}x{n} output"), size: gx.max(gy), limit: max, unit: "workgroups per dimension" });
    }
    let bind = [("a", a.bind()), ("b", b.bind()), ("bias", bias_buf), ("c", c.bind())];
    gpu.dispatch_spec(v.shader, "main", v.spec, &params, &bind, [gx as u32, gy as u32, 1])
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
    matmul_into(&Gemm { a: &ap, b: &bp, m, n, kp: pad4(k), bias: Bias::None, c: &c, map: OutMap::row_major(n), accumulate: false, relu: false })?;
    Ok(c)
}
