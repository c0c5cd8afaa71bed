//! Wrapper of `shaders/concat.wgsl`: concatenation along channels (NCHW) and its backward split
//! (two parts in one pass each way, more as one copy per part).

use super::{grid_1d, item_chunks, u};
use crate::error::{Error, Result};
use crate::gpu::layout::params;
use crate::tensor::{DType, Tensor};

params! {
    /// `struct Params` of `shaders/concat.wgsl`.
    pub(crate) struct Params {
        n: u32,
        hw: u32,
        cs: u32,
        s0: u32,
        cd: u32,
        d0: u32,
        cn: u32,
    }
}

/// Copy channels s0..s0+cn of src [N, CS, HW] into channels d0.. of dst [N, CD, HW], in chunks of
/// images when a tensor is over the binding limit.
fn copy(src: &Tensor, s0: usize, dst: &Tensor, d0: usize, cn: usize) -> Result<()> {
    const OP: &str = "concat";
    let (n, cs, cd) = (src.shape()[0], src.shape()[1], dst.shape()[1]);
    let hw = src.numel() / (n * cs);
    let gpu = src.gpu();
    for (n0, m) in item_chunks(gpu, OP, n, &[cs * hw, cd * hw])? {
        let (sv, dv) = (src.view(n0 * cs * hw, &[m * cs * hw])?, dst.view(n0 * cd * hw, &[m * cd * hw])?);
        let p = Params { n: u(OP, m)?, hw: u(OP, hw)?, cs: u(OP, cs)?, s0: u(OP, s0)?, cd: u(OP, cd)?, d0: u(OP, d0)?, cn: u(OP, cn)? };
        gpu.dispatch("concat", "main", &p, &[("src", sv.bind()), ("dst", dv.bind())], grid_1d(gpu, m * cn * hw)?)?;
    }
    Ok(())
}

/// The two-part pass `entry` ("join2" or "split2") between `whole` [N, CA+CB, HW] and its parts
/// `a` [N, CA, HW], `b` [N, CB, HW], in chunks of images when a tensor is over the binding limit.
fn pair(entry: &'static str, whole: &Tensor, a: &Tensor, b: &Tensor) -> Result<()> {
    const OP: &str = "concat";
    let (n, ca, cb) = (whole.shape()[0], a.shape()[1], b.shape()[1]);
    let hw = whole.numel() / (n * (ca + cb));
    let gpu = whole.gpu();
    for (n0, m) in item_chunks(gpu, OP, n, &[ca * hw, cb * hw, (ca + cb) * hw])? {
        let wv = whole.view(n0 * (ca + cb) * hw, &[m * (ca + cb) * hw])?;
        let (av, bv) = (a.view(n0 * ca * hw, &[m * ca * hw])?, b.view(n0 * cb * hw, &[m * cb * hw])?);
        let c = u(OP, ca + cb)?;
        let p = Params { n: u(OP, m)?, hw: u(OP, hw)?, cs: c, s0: 0, cd: c, d0: 0, cn: u(OP, ca)? };
        let bind = if entry == "join2" {
            [("src", av.bind()), ("src_b", bv.bind()), ("dst", wv.bind())]
        } else {
            [("src", wv.bind()), ("dst", av.bind()), ("dst_b", bv.bind())]
        };
        gpu.dispatch("concat", entry, &p, &bind, grid_1d(gpu, m * (ca + cb) * hw)?)?;
    }
    Ok(())
}

/// Concatenate NCHW tensors along channels.
pub fn forward(parts: &[&Tensor]) -> Result<Tensor> {
    const OP: &str = "concat";
    let first = parts.first().ok_or_else(|| Error::shape(OP, "nothing to concatenate"))?;
    first.expect_rank(OP, "input", 4)?;
    let s = first.shape();
    let mut c = 0;
    for t in parts {
        t.expect_dtype(OP, "input", DType::F32)?;
        if t.shape().len() != 4 || t.shape()[0] != s[0] || t.shape()[2..] != s[2..] {
            return Err(Error::shape(OP, format!("{:?} does not match {:?} outside the channel axis", t.shape(), s)));
        }
        c += t.shape()[1];
    }
    let out = Tensor::empty(first.gpu(), &[s[0], c, s[2], s[3]], DType::F32)?;
    if let [a, b] = parts {
        pair("join2", &out, a, b)?;
        return Ok(out);
    }
    let mut d0 = 0;
    for t in parts {
        copy(t, 0, &out, d0, t.shape()[1])?;
        d0 += t.shape()[1];
    }
    Ok(out)
}

/// Split dy along channels into pieces of the given channel counts (the backward of `forward`).
pub fn backward(dy: &Tensor, channels: &[usize]) -> Result<Vec<Tensor>> {
    let s = dy.shape();
    if channels.iter().sum::<usize>() != s[1] {
        return Err(Error::shape("concat backward", format!("channels {channels:?} do not add up to {:?}", s)));
    }
    let part = |c: usize| Tensor::empty(dy.gpu(), &[s[0], c, s[2], s[3]], DType::F32);
    if let [ca, cb] = channels {
        let (a, b) = (part(*ca)?, part(*cb)?);
        pair("split2", dy, &a, &b)?;
        return Ok(vec![a, b]);
    }
    let mut s0 = 0;
    let mut out = Vec::new();
    for &c in channels {
        let t = part(c)?;
        copy(dy, s0, &t, 0, c)?;
        s0 += c;
        out.push(t);
    }
    Ok(out)
}
