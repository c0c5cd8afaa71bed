//! Wrapper of `shaders/avgpool.wgsl`: fixed-window average pooling (PyTorch's
//! count_include_pad=True) and adaptive average pooling (output size given).

use super::maxpool::{pool_shape, Pool};
use super::{grid_1d, u};
use crate::error::{Error, Result};
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

fn params(xs: &[usize], os: &[usize], kind: AvgPool) -> Result<[u32; 10]> {
    const OP: &str = "avgpool";
    let (k, s, p, adaptive) = match kind {
        AvgPool::Window(p) => (p.kernel, p.stride, p.pad, 0),
        AvgPool::Adaptive(..) => (1, 1, 0, 1),
    };
    Ok([
        u(OP, xs[0] * xs[1])?,
        u(OP, xs[2])?,
        u(OP, xs[3])?,
        u(OP, os[2])?,
        u(OP, os[3])?,
        u(OP, k)?,
        u(OP, k)?,
        u(OP, s)?,
        u(OP, p)?,
        adaptive,
    ])
}

pub fn forward(x: &Tensor, kind: AvgPool) -> Result<Tensor> {
    let os = out_shape(x, kind)?;
    let gpu = x.gpu();
    let y = Tensor::empty(gpu, &os, DType::F32)?;
    let p = params(x.shape(), &os, kind)?;
    gpu.dispatch("avgpool", "forward", &p, &[(1, x.bind()), (2, y.bind())], grid_1d(gpu, y.numel())?)?;
    Ok(y)
}

pub fn backward(x_shape: &[usize], dy: &Tensor, kind: AvgPool) -> Result<Tensor> {
    let gpu = dy.gpu();
    dy.expect_rank("avgpool backward", "dy", 4)?;
    let dx = Tensor::empty(gpu, x_shape, DType::F32)?;
    let p = params(x_shape, dy.shape(), kind)?;
    gpu.dispatch("avgpool", "backward", &p, &[(1, dy.bind()), (2, dx.bind())], grid_1d(gpu, dx.numel())?)?;
    Ok(dx)
}
