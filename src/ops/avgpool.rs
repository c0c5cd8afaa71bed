//! Wrapper of `shaders/avgpool.wgsl`: fixed-window average pooling (PyTorch's
//! count_include_pad=True) and adaptive average pooling (output size given).

use super::maxpool::{pool_shape, Pool};
use super::{grid_1d, item_chunks};
use crate::error::{Error, Result};
use crate::gpu::Spec;
use crate::tensor::{DType, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvgPool {
    Window(Pool),
    /// Adaptive pooling to (OH, OW); (1, 1) is global average pooling.
    Adaptive(usize, usize),
}

fn out_shape(x: &Tensor, kind: AvgPool) -> Result<[usize; 4]> {
    match kind {
        AvgPool::Window(p) => pool_shape("avgpool", x, p),
        AvgPool::Adaptive(oh, ow) => {
            x.expect_rank("avgpool", "input", 4)?;
            let s = x.shape();
            if oh == 0 || ow == 0 || oh > s[2] || ow > s[3] {
                return Err(Error::shape("avgpool", format!("adaptive output {oh}x{ow} for input {s:?}")));
            }
            Ok([s[0], s[1], oh, ow])
        }
    }
}

/// `struct Params` of `shaders/avgpool.wgsl`: the window as max pooling has it (whether it is
/// adaptive is the shader constant `ADAPTIVE`, see `spec`).
pub(crate) type Params = super::maxpool::Params;

fn params(xs: &[usize], os: &[usize], kind: AvgPool) -> Result<Params> {
    let (k, s, p) = match kind {
        AvgPool::Window(p) => (p.kernel, p.stride, p.pad),
        AvgPool::Adaptive(..) => (1, 1, 0),
    };
    Params::new("avgpool", xs, os, k, s, p)
}

/// The pipeline of this kind of window: adaptive or fixed is compiled in.
fn spec(kind: AvgPool) -> Spec {
    match kind {
        AvgPool::Window(_) => &[],
        AvgPool::Adaptive(..) => &[("ADAPTIVE", 1)],
    }
}

/// Planes are pooled in chunks when a tensor is over the binding limit.
pub fn forward(x: &Tensor, kind: AvgPool) -> Result<Tensor> {
    let os = out_shape(x, kind)?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, &os, DType::F32)?;
    let s = x.shape();
    let (hw, ohw) = (s[2] * s[3], os[2] * os[3]);
    for (p0, np) in item_chunks(gpu, "avgpool", s[0] * s[1], &[hw, ohw])? {
        let (xv, yv) = (x.view(p0 * hw, &[np * hw])?, y.view(p0 * ohw, &[np * ohw])?);
        let p = params(&[np, 1, s[2], s[3]], &os, kind)?;
        gpu.dispatch_spec("avgpool", "forward", spec(kind), &p, &[("src", xv.bind()), ("dst", yv.bind())], grid_1d(gpu, np * ohw)?)?;
    }
    Ok(y)
}

pub fn backward(x_shape: &[usize], dy: &Tensor, kind: AvgPool) -> Result<Tensor> {
    let gpu = dy.gpu();
    dy.expect_rank("avgpool backward", "dy", 4)?;
    if x_shape.len() != 4 || x_shape[..2] != dy.shape()[..2] {
        return Err(Error::shape("avgpool backward", format!("input {x_shape:?} and dy {:?} differ in batch or channels", dy.shape())));
    }
    let dx = Tensor::empty(gpu, x_shape, DType::F32)?;
    let os = dy.shape();
    let (hw, ohw) = (x_shape[2] * x_shape[3], os[2] * os[3]);
    for (p0, np) in item_chunks(gpu, "avgpool", os[0] * os[1], &[hw, ohw])? {
        let (dyv, dxv) = (dy.view(p0 * ohw, &[np * ohw])?, dx.view(p0 * hw, &[np * hw])?);
        let p = params(&[np, 1, x_shape[2], x_shape[3]], os, kind)?;
        // one thread per input row
        gpu.dispatch_spec("avgpool", "backward", spec(kind), &p, &[("src", dyv.bind()), ("dst", dxv.bind())], grid_1d(gpu, np * x_shape[2])?)?;
    }
    Ok(dx)
}
