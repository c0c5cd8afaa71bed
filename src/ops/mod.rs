//! One Rust wrapper per WGSL kernel (same name as its `shaders/<name>.wgsl`), plus the
//! composite ops built from them (`conv2d` and its 1×1 form `conv2d_pointwise`, `linear`). Wrappers check shapes and device limits
//! and return `Error`s naming the op; they record dispatches without waiting for the GPU.

pub mod avgpool;
pub mod batchnorm;
pub mod col2im;
pub mod concat;
pub mod confusion;
pub mod conv2d;
pub mod conv2d_direct;
pub mod conv2d_pointwise;
pub mod cross_entropy;
pub mod distill;
pub mod dropout;
pub mod elementwise;
pub mod gemm_strided;
pub mod im2col;
pub mod linear;
pub mod matmul;
pub mod maxpool;
pub mod optim;
pub mod pack;
pub mod quad;
pub mod range;
pub mod reduce;
pub mod relu;

use crate::error::{Error, Result};
use crate::gpu::layout::{layout, Layout};
use crate::gpu::shaders::WORKGROUP_1D;
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// Returns the layout of one Rust parameter block (`layout::<P>`).
pub type LayoutOf = fn() -> Layout;

/// `(shader, layout of its Rust Params)` for every shader: each wrapper's `Params`, declared
/// with `params!`, mirrors the shader's `struct Params` (tests/shaders.rs checks member names,
/// types and offsets and the size against naga).
pub const PARAMS: &[(&str, LayoutOf)] = &[
    ("avgpool", layout::<avgpool::Params>),
    ("batchnorm", layout::<batchnorm::Params>),
    ("col2im", layout::<col2im::Params>),
    ("concat", layout::<concat::Params>),
    ("confusion", layout::<confusion::Params>),
    ("conv2d_direct", layout::<conv2d_direct::Params>),
    ("cross_entropy", layout::<cross_entropy::Params>),
    ("distill", layout::<distill::Params>),
    ("dropout", layout::<dropout::Params>),
    ("elementwise", layout::<elementwise::Params>),
    ("gemm_strided", layout::<gemm_strided::Params>),
    ("gemm_strided_bcast", layout::<gemm_strided::Params>),
    ("im2col", layout::<im2col::Params>),
    ("matmul", layout::<matmul::Params>),
    ("matmul_splitk", layout::<matmul::Params>),
    ("matmul_subgroup", layout::<matmul::Params>),
    ("matmul_tiled", layout::<matmul::Params>),
    ("matmul_bcast", layout::<matmul::Params>),
    ("maxpool", layout::<maxpool::Params>),
    ("optim", layout::<optim::Params>),
    ("pack", layout::<pack::Params>),
    ("quad", layout::<quad::Params>),
    ("range", layout::<range::Params>),
    ("reduce", layout::<reduce::Params>),
    ("relu", layout::<relu::Params>),
];

/// Workgroups for a 1-D kernel of `n` threads (`WORKGROUP_1D` a workgroup), split over x/y.
pub(crate) fn grid_1d(gpu: &Gpu, n: usize) -> Result<[u32; 3]> {
    gpu.grid((n as u64).div_ceil(WORKGROUP_1D as u64))
}

/// Where a backward writes the gradients of its op's two parameters (weight and bias; a batch
/// norm's gamma and beta): `Tape::backward`'s slots. None: new tensors.
#[derive(Clone, Copy, Default)]
pub struct GradsInto<'a> {
    pub w: Option<&'a Tensor>,
    pub b: Option<&'a Tensor>,
}

/// An op's output of `shape`: `into` when the caller gave where it belongs (a parameter's
/// gradient slot, `Tape::backward`), else a new tensor.
pub(crate) fn output(gpu: &Gpu, op: &'static str, shape: &[usize], into: Option<&Tensor>) -> Result<Tensor> {
    match into {
        Some(t) if t.numel() == shape.iter().product::<usize>() => t.reshape(shape),
        Some(t) => Err(Error::shape(op, format!("output {:?} given for a result of shape {shape:?}", t.shape()))),
        None => Tensor::empty(gpu, shape, crate::tensor::DType::F32),
    }
}

/// `usize` → `u32` for kernel parameters, failing (instead of wrapping) on huge sizes.
pub(crate) fn u(op: &'static str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::TooLarge { op, what: "an index".into(), size: v as u64, limit: u32::MAX as u64, unit: "elements" })
}

/// Output size of a window sweep: floor((n + 2*pad - k) / stride) + 1, checked.
pub(crate) fn out_size(op: &'static str, n: usize, k: usize, stride: usize, pad: usize) -> Result<usize> {
    if stride == 0 || k == 0 {
        return Err(Error::shape(op, format!("kernel {k} and stride {stride} must be positive")));
    }
    if n + 2 * pad < k {
        return Err(Error::shape(op, format!("input size {n} (+2*{pad} padding) is smaller than the kernel {k}")));
    }
    Ok((n + 2 * pad - k) / stride + 1)
}

/// Run `f(start, len)` over consecutive chunks of `n` elements, each small enough to bind and
/// starting on an aligned offset: element-wise kernels on tensors over the binding limit (e.g.
/// AlexNet's 151 MB fc6 weight and its Adam moments) run as several dispatches of views.
pub(crate) fn for_chunks(gpu: &Gpu, n: usize, mut f: impl FnMut(usize, usize) -> Result<()>) -> Result<()> {
    let max = gpu.chunk_elems().max(1);
    let mut start = 0;
    while start < n {
        let len = max.min(n - start);
        f(start, len)?;
        start += len;
    }
    Ok(())
}

/// Split `n` items along a leading axis (images, or N*C planes) for kernels that bind per-item
/// slices of several tensors at once: `per[i]` is the element count of one item in the i-th
/// tensor. Returns (first item, item count) chunks that start on an aligned element offset in
/// every tensor (so `Tensor::view` can bind them) and fit one storage binding. One chunk when
/// everything fits (the common case); an error naming `op` when even the smallest aligned chunk
/// is too large.
pub(crate) fn item_chunks(gpu: &Gpu, op: &'static str, n: usize, per: &[usize]) -> Result<Vec<(usize, usize)>> {
    let max = gpu.chunk_elems();
    let widest = per.iter().copied().max().unwrap_or(1).max(1);
    if n.saturating_mul(widest) <= max {
        return Ok(vec![(0, n)]);
    }
    let align = (gpu.limits().min_storage_buffer_offset_alignment as usize).max(4) / 4;
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    // smallest item count whose slices end on an aligned offset in every tensor
    let q = per.iter().fold(1, |q, &p| {
        let step = align / gcd(p.max(1), align);
        q / gcd(q, step) * step
    });
    let cap = max / widest / q * q;
    if cap == 0 {
        return Err(Error::TooLarge {
            op,
            what: format!("the smallest aligned chunk ({q} items of {widest} values)"),
            size: (q * widest * 4) as u64,
            limit: gpu.max_binding(),
            unit: "bytes",
        });
    }
    Ok((0..n).step_by(cap).map(|s| (s, cap.min(n - s))).collect())
}
