//! `heft export --onnx`: the student as an ONNX graph of CKKS-friendly operators only (Conv,
//! Gemm, Mul, Add, AveragePool, Flatten, and Concat for SqueezeNet's fire modules; ResNet's
//! residual connections are Add too). Batch norm is folded away: into the preceding convolution
//! when it follows one (SqueezeNet, ResNet), else into
//! the coefficients of the activation before the average pool it follows (AlexNet: affine ∘
//! avg-pool ∘ poly = avg-pool ∘ (affine ∘ poly), exact because those pools have no padding),
//! which makes those coefficients per channel. Each activation c0 + c1·x + c2·x² becomes
//! Mul/Add nodes with its trained coefficients. IR version 8, opset 13 (protobuf: `he::proto`).

use crate::error::{Error, Result};
use crate::nn::layers::{Activation, BatchNorm, Block, Branches, Conv, Join, Leaf, Linear, Pool2d, PoolKind};
use crate::nn::model::Model;
use crate::nn::tree::{join_shape, Flow, Node};
use crate::ops::maxpool::Pool;
use super::proto::*;

// ---- folding -------------------------------------------------------------------------------

/// Per-channel scale and shift of an eval-mode batch norm: y = scale·x + shift.
fn bn_affine(bn: &BatchNorm) -> Result<(Vec<f32>, Vec<f32>)> {
    let (g, b, m, v) = (bn.gamma.value.to_f32()?, bn.beta.value.to_f32()?, bn.running_mean.to_f32()?, bn.running_var.to_f32()?);
    let scale: Vec<f32> = g.iter().zip(&v).map(|(g, v)| g / (v + bn.eps).sqrt()).collect();
    let shift = b.iter().zip(&m).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    Ok((scale, shift))
}

/// Weights and bias of a convolution, with a following batch norm folded in.
fn conv_weights(c: &Conv, bn: Option<&BatchNorm>) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut w = c.w.value.to_f32()?;
    let co = c.out_channels();
    let mut b = match &c.b {
        Some(b) => b.value.to_f32()?,
        None => vec![0.0; co],
    };
    if let Some(bn) = bn {
        let (scale, shift) = bn_affine(bn)?;
        let per = w.len() / co;
        for o in 0..co {
            w[o * per..(o + 1) * per].iter_mut().for_each(|x| *x *= scale[o]);
            b[o] = b[o] * scale[o] + shift[o];
        }
    }
    Ok((w, b))
}

fn conv(g: &mut Graph, x: &str, c: &Conv, bn: Option<&BatchNorm>) -> Result<String> {
    let (w, b) = conv_weights(c, bn)?;
    let dims = c.w.value.shape().to_vec();
    let wn = g.init(&format!("{}.weight", c.name), &dims, &w);
    let bname = g.init(&format!("{}.bias", c.name), &[dims[0]], &b);
    let (k, s, p) = (dims[2] as i64, c.stride as i64, c.pad as i64);
    let attrs = vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s]), attr_ints("pads", &[p, p, p, p])];
    Ok(g.node("Conv", &[x, &wn, &bname], attrs, &c.name))
}

/// c0 + c1·x + c2·x², optionally followed by a per-channel affine map (folded batch norm):
/// coefficients become per channel, shaped [C, 1, 1] (4-D input) or [C] (2-D input).
fn poly(g: &mut Graph, x: &str, a: &Activation, affine: Option<(Vec<f32>, Vec<f32>)>, rank: usize) -> Result<String> {
    let coef = a.coef.as_ref().ok_or_else(|| Error::Invalid(format!("{} is a ReLU: export the HE-friendly student, not the teacher", a.name)))?;
    if a.ratio < 1.0 {
        return Err(Error::Invalid(format!("{} still blends in ReLU (ratio {}): finish the schedule first", a.name, a.ratio)));
    }
    let c = coef.value.to_f32()?;
    let (cs, dims): ([Vec<f32>; 3], Vec<usize>) = match affine {
        None => ([vec![c[0]], vec![c[1]], vec![c[2]]], vec![1]),
        Some((scale, shift)) => {
            let n = scale.len();
            let per = |k: usize| (0..n).map(|i| scale[i] * c[k] + if k == 0 { shift[i] } else { 0.0 }).collect();
            ([per(0), per(1), per(2)], if rank == 4 { vec![n, 1, 1] } else { vec![n] })
        }
    };
    let c0 = g.init(&format!("{}.c0", a.name), &dims, &cs[0]);
    let c1 = g.init(&format!("{}.c1", a.name), &dims, &cs[1]);
    let c2 = g.init(&format!("{}.c2", a.name), &dims, &cs[2]);
    let sq = g.node("Mul", &[x, x], vec![], &a.name);
    let t2 = g.node("Mul", &[&sq, &c2], vec![], &a.name);
    let t1 = g.node("Mul", &[x, &c1], vec![], &a.name);
    let s = g.node("Add", &[&t2, &t1], vec![], &a.name);
    Ok(g.node("Add", &[&s, &c0], vec![], &a.name))
}

/// A value of the graph (name, shape), or a layer whose nodes wait for the next leaf: a
/// convolution a batch norm may fold into, an activation an unpadded average pool and a batch
/// norm may follow (with its input's name and shape).
#[derive(Clone)]
enum Value<'a> {
    Ready(String, Vec<usize>),
    Conv(&'a Conv, String, Vec<usize>),
    Act(&'a Activation, String, Vec<usize>),
    ActPool(&'a Activation, &'a Pool2d, String, Vec<usize>),
}

/// The export, as a flow of graph values. A waiting layer is written as soon as the next leaf
/// does not fold into it, and where an inner node begins or ends: nothing folds across a
/// block's boundary.
#[derive(Default)]
struct Export {
    g: Graph,
}

impl Export {
    /// `v` written with nothing folded in: its name and shape.
    fn ready(&mut self, v: Value) -> Result<(String, Vec<usize>)> {
        let g = &mut self.g;
        Ok(match v {
            Value::Ready(x, s) => (x, s),
            Value::Conv(c, x, s) => (conv(g, &x, c, None)?, Leaf::Conv(c).out_shape(&s)?),
            Value::Act(a, x, s) => (poly(g, &x, a, None, s.len())?, s),
            Value::ActPool(a, p, x, s) => {
                let y = poly(g, &x, a, None, s.len())?;
                pool(g, &y, p, &s)?
            }
        })
    }

    /// The value of `leaf` on `x`, folding a batch norm into the convolution before it, or
    /// into the activation before an unpadded average pool before it.
    fn value<'a>(&mut self, leaf: Leaf<'a>, x: Value<'a>) -> Result<Value<'a>> {
        let (x, s) = match (leaf, x) {
            (Leaf::BatchNorm(bn), Value::Conv(c, x, s)) => return Ok(Value::Ready(conv(&mut self.g, &x, c, Some(bn))?, Leaf::Conv(c).out_shape(&s)?)),
            (Leaf::Pool(p @ Pool2d { kind: PoolKind::Avg(w), .. }), Value::Act(a, x, s)) if w.pad == 0 => return Ok(Value::ActPool(a, p, x, s)),
            (Leaf::BatchNorm(bn), Value::ActPool(a, p, x, s)) => {
                let y = poly(&mut self.g, &x, a, Some(bn_affine(bn)?), s.len())?;
                let (y, s) = pool(&mut self.g, &y, p, &s)?;
                return Ok(Value::Ready(y, s));
            }
            (_, x) => self.ready(x)?,
        };
        let g = &mut self.g;
        let y = match leaf {
            Leaf::Conv(c) => return Ok(Value::Conv(c, x, s)),
            Leaf::Act(a) => return Ok(Value::Act(a, x, s)),
            Leaf::Pool(p) => return pool(g, &x, p, &s).map(|(y, s)| Value::Ready(y, s)),
            Leaf::Dropout(_) => return Ok(Value::Ready(x, s)),
            Leaf::Linear(l) => linear(g, &x, l)?,
            Leaf::Flatten => g.node("Flatten", &[&x], vec![attr_int("axis", 1)], "flatten"),
            Leaf::BatchNorm(bn) => return Err(Error::Invalid(format!("{} follows neither a convolution nor act → avg-pool: it cannot be folded", bn.name))),
        };
        Ok(Value::Ready(y, leaf.out_shape(&s)?))
    }
}

impl<'a> Flow<'a> for Export {
    type V = Value<'a>;
    type Error = Error;

    fn leaf(&mut self, leaf: Leaf<'a>, x: Value<'a>, _: usize) -> Result<Value<'a>> {
        self.value(leaf, x)
    }

    fn enter(&mut self, _: Node<'a>, x: Value<'a>, _: usize) -> Result<Value<'a>> {
        self.ready(x).map(|(x, s)| Value::Ready(x, s))
    }

    fn exit(&mut self, _: &'a Block, _: &Value<'a>, out: Value<'a>, _: usize) -> Result<Value<'a>> {
        self.ready(out).map(|(y, s)| Value::Ready(y, s))
    }

    fn join(&mut self, b: &'a Branches, _: &Value<'a>, outs: Vec<Value<'a>>, _: usize) -> Result<Value<'a>> {
        let outs = outs.into_iter().map(|v| self.ready(v)).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&str> = outs.iter().map(|(y, _)| y.as_str()).collect();
        let y = match b.join {
            Join::Concat => self.g.node("Concat", &refs, vec![attr_int("axis", 1)], "concat"),
            Join::Add => refs[1..].iter().fold(refs[0].to_string(), |sum, o| self.g.node("Add", &[&sum, o], vec![], "residual")),
        };
        Ok(Value::Ready(y, join_shape(b.join, &outs.into_iter().map(|(_, s)| s).collect::<Vec<_>>())?))
    }
}

/// A pooling layer's node on `x` of shape `s`, and its output shape.
fn pool(g: &mut Graph, x: &str, p: &Pool2d, s: &[usize]) -> Result<(String, Vec<usize>)> {
    let y = match p.kind {
        PoolKind::Avg(w) => avgpool(g, x, Some(w), s),
        PoolKind::GlobalAvg => avgpool(g, x, None, s),
        PoolKind::Max(_) => return Err(Error::Invalid("max pooling is not HE-friendly: export the student, not the teacher".into())),
    };
    Ok((y, Leaf::Pool(p).out_shape(s)?))
}

fn linear(g: &mut Graph, x: &str, l: &Linear) -> Result<String> {
    let (w, b) = (l.w.value.to_f32()?, l.b.as_ref().map(|b| b.value.to_f32()).transpose()?);
    let dims = l.w.value.shape().to_vec();
    let wn = g.init(&format!("{}.weight", l.name), &dims, &w);
    let bn = g.init(&format!("{}.bias", l.name), &[dims[0]], &b.unwrap_or(vec![0.0; dims[0]]));
    Ok(g.node("Gemm", &[x, &wn, &bn], vec![attr_int("transB", 1)], &l.name))
}

/// The student as ONNX bytes, and the operator types it uses.
pub fn export(model: &Model) -> Result<(Vec<u8>, Vec<String>)> {
    let mut export = Export::default();
    let out = model.root.flow(&mut export, Value::Ready("input".to_string(), model.in_shape(1)), 0)?;
    let (out, _) = export.ready(out)?;
    let g = export.g;
    let mut graph = Vec::new();
    for n in &g.nodes {
        field_bytes(&mut graph, 1, n);
    }
    field_str(&mut graph, 2, "heft_student");
    for t in &g.inits {
        field_bytes(&mut graph, 5, t);
    }
    field_bytes(&mut graph, 11, &value_info("input", &model.in_shape(1)));
    field_bytes(&mut graph, 12, &value_info(&out, &[1, model.config.classes]));
    let mut opset = Vec::new();
    field_str(&mut opset, 1, "");
    field_int(&mut opset, 2, 13);
    let mut m = Vec::new();
    field_int(&mut m, 1, 8);
    field_str(&mut m, 2, "heft");
    field_str(&mut m, 3, env!("CARGO_PKG_VERSION"));
    field_bytes(&mut m, 7, &graph);
    field_bytes(&mut m, 8, &opset);
    Ok((m, g.ops))
}

/// AveragePool over window `w`, or over the whole input (`None`: global average pooling).
fn avgpool(g: &mut Graph, x: &str, w: Option<Pool>, in_shape: &[usize]) -> String {
    let (k, s, p, ceil) = match w {
        Some(p) => ([p.kernel as i64; 2], p.stride as i64, p.pad as i64, p.ceil),
        None => ([in_shape[2] as i64, in_shape[3] as i64], 1, 0, false),
    };
    let attrs = vec![
        attr_ints("kernel_shape", &k),
        attr_ints("strides", &[s, s]),
        attr_ints("pads", &[p, p, p, p]),
        attr_int("ceil_mode", ceil as i64),
        attr_int("count_include_pad", 1),
    ];
    g.node("AveragePool", &[x], attrs, "avgpool")
}

/// Write `n` images of `ds` (in a fixed shuffled order), the model's logits for them (eval mode)
/// and their labels as safetensors (`x`, `logits`, `labels` u32) to the new file `path` (an existing one is refused, not replaced); returns the
/// number of images written.
pub fn write_sample(model: &Model, ds: &crate::data::Dataset, norm: crate::data::image::Normalize, n: usize, path: &std::path::Path) -> Result<usize> {
    use crate::data::loader::{Loader, LoaderCfg};
    use crate::nn::eval::{forward_batches, Keep};
    let c = &model.config;
    // a fixed shuffle, so that N images of a class-sorted split hold every class
    let cfg = LoaderCfg { shuffle: true, seed: 0, ..LoaderCfg::inference(c.input, c.in_channels, n, norm) };
    let mut sample = None;
    forward_batches(model, Loader::new(ds, cfg, 0).take(1), Keep::default(), |s| {
        sample = Some((s.batch.clone(), s.logits.to_f32()?));
        Ok(())
    })?;
    let (b, logits) = sample.ok_or_else(|| Error::Invalid("the dataset has no readable test image".into()))?;
    use crate::safetensors_file::{Named, Values};
    let tensors = [
        Named { name: "x", shape: &[b.n, c.in_channels, c.input, c.input], values: Values::F32(&b.x) },
        Named { name: "logits", shape: &[b.n, c.classes], values: Values::F32(&logits) },
        Named { name: "labels", shape: &[b.n], values: Values::U32(&b.labels) },
    ];
    crate::safetensors_file::write_new(path, tensors, None)?;
    Ok(b.n)
}
