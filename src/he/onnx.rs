//! `heft export --onnx`: the student as an ONNX graph of CKKS-friendly operators only (Conv,
//! Gemm, Mul, Add, AveragePool, Flatten, and Concat where branches join that `he::fire` cannot
//! merge; ResNet's residual connections are Add too), merged as `he::depth` counts it, and each
//! fire module's two expand branches as one convolution (`he::fire`). Batch norm is folded
//! away: into the convolution before it (SqueezeNet, ResNet), else into the coefficients of the
//! activation before the average pool it follows (AlexNet: affine ∘ avg-pool ∘ poly =
//! avg-pool ∘ (affine ∘ poly), exact because those pools have no padding), which makes those
//! coefficients per channel. Each activation c0 + c1·x + c2·x² becomes Mul/Add nodes with its
//! trained coefficients. A linearised one (c0 + c1·x) folds into the Conv or Gemm before it
//! (and a batch norm after its unpadded average pool with it), and layers merge as `he::merge`
//! says, one node per chain; one that follows no such layer is a Mul and an Add.
//! IR version 8, opset 13 (protobuf: `he::proto`).

use crate::error::{Error, Result};
use crate::nn::layers::{Activation, BatchNorm, Block, Branches, Conv, Join, Leaf, Linear, Pool2d, PoolKind};
use crate::nn::model::Model;
use crate::nn::tree::{join_shape, Flow, Node};
use crate::ops::maxpool::Pool;
use super::fire::{self, Fire};
use super::merge::{step, Chain, Step, Weights};
use super::onnx_poly::{coefficients, poly, poly_nodes};
use super::proto::*;

/// The layer a Conv or Gemm node is written for: the first of its chain, whose name, input and
/// geometry it keeps.
#[derive(Clone, Copy)]
enum Op<'a> {
    Conv(&'a Conv),
    Gemm(&'a Linear),
}

/// A Conv or Gemm node not yet written, on input `x` of shape `s`: what follows its layer
/// and `step` lets it take is folded or merged into `w` as it comes.
#[derive(Clone)]
struct Pending<'a> {
    op: Op<'a>,
    /// The node's name: its first layer's (or a merged fire module's).
    name: String,
    w: Weights,
    x: String,
    s: Vec<usize>,
}

impl Pending<'_> {
    fn chain(&self) -> Chain {
        match self.op {
            Op::Conv(_) => Chain::Conv,
            Op::Gemm(_) => Chain::Linear,
        }
    }

    /// Followed by `what`, y = scale·x + shift per channel: folded in.
    fn then(mut self, what: &str, scale: &[f32], shift: &[f32]) -> Result<Self> {
        self.w.then(what, scale, shift)?;
        Ok(self)
    }

    fn bn(self, bn: &BatchNorm) -> Result<Self> {
        let (scale, shift) = bn.eval_affine()?;
        self.then(&bn.name, &scale, &shift)
    }

    /// Its node; returns the output's name and shape.
    fn write(self, g: &mut Graph) -> Result<(String, Vec<usize>)> {
        let name = &self.name;
        let (op, attrs, mut out) = match self.op {
            Op::Conv(c) => {
                let (k, s, p) = (self.w.dims[2] as i64, c.stride as i64, c.pad as i64);
                let attrs = vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s]), attr_ints("pads", &[p, p, p, p])];
                ("Conv", attrs, Leaf::Conv(c).out_shape(&self.s)?)
            }
            Op::Gemm(l) => ("Gemm", vec![attr_int("transB", 1)], Leaf::Linear(l).out_shape(&self.s)?),
        };
        let Weights { w, dims, b } = self.w;
        out[1] = dims[0];
        let wn = g.init(&format!("{name}.weight"), &dims, &w);
        let bn = g.init(&format!("{name}.bias"), &[dims[0]], &b);
        Ok((g.node(op, &[&self.x, &wn, &bn], attrs, name), out))
    }
}

/// A value of the graph (name, shape), or nodes that wait for the next leaf: a Conv or Gemm
/// (see `Pending`); an activation with the per-channel affine map folded into it so far, on its
/// input's name and shape; either of them followed by an unpadded average pool, which a batch
/// norm after it folds into (affine maps commute with averaging).
#[derive(Clone)]
enum Value<'a> {
    Ready(String, Vec<usize>),
    Layer(Pending<'a>),
    Act(&'a Activation, Option<(Vec<f32>, Vec<f32>)>, String, Vec<usize>),
    Pooled(Box<Value<'a>>, &'a Pool2d),
}

/// The export, as a flow of graph values. A waiting node is written as soon as the next leaf
/// does not fold into it, and where an inner node begins or ends: nothing folds across a
/// block's boundary. A fire module's branches are written merged where they begin, and the
/// flow through them writes nothing until they join.
#[derive(Default)]
struct Export<'a> {
    g: Graph,
    /// The branches being passed over, merged, and their output.
    merged: Option<(&'a Branches, (String, Vec<usize>))>,
    fires: usize,
}

impl<'a> Export<'a> {
    /// The merged fire module `f` on `x` of shape `s`: one Conv, then (unless linearised, which
    /// folds into it) one activation with per-channel coefficients.
    fn fire(&mut self, f: Fire<'a>, x: String, s: Vec<usize>) -> Result<(String, Vec<usize>)> {
        let mut p = Pending { op: Op::Conv(f.widest), name: f.name.clone(), w: f.w, x, s };
        if f.affine {
            p.w.then(&f.name, &f.coef[1], &f.coef[0])?;
            return p.write(&mut self.g);
        }
        let (y, shape) = p.write(&mut self.g)?;
        let z = poly_nodes(&mut self.g, &y, &format!("{}_activation", f.name), &f.coef, &[shape[1], 1, 1], false);
        Ok((z, shape))
    }

    /// `v` written with nothing more folded in: its name and shape.
    fn ready(&mut self, v: Value) -> Result<(String, Vec<usize>)> {
        Ok(match v {
            Value::Ready(x, s) => (x, s),
            Value::Layer(p) => p.write(&mut self.g)?,
            Value::Act(a, affine, x, s) => (poly(&mut self.g, &x, a, affine, s.len())?, s),
            Value::Pooled(v, p) => {
                let (y, s) = self.ready(*v)?;
                pool(&mut self.g, &y, p, &s)?
            }
        })
    }

    /// The value of `leaf` on `x`: merged or folded into a waiting node where it can be.
    fn value(&mut self, leaf: Leaf<'a>, x: Value<'a>) -> Result<Value<'a>> {
        let x = match (leaf, x) {
            (Leaf::Pool(p @ Pool2d { kind: PoolKind::Avg(w), .. }), v @ (Value::Layer(_) | Value::Act(_, None, _, _))) if w.pad == 0 => {
                return Ok(Value::Pooled(Box::new(v), p));
            }
            (Leaf::BatchNorm(bn), Value::Pooled(v, p)) => {
                let v = match *v {
                    Value::Layer(l) => Value::Layer(l.bn(bn)?),
                    Value::Act(a, None, x, s) => Value::Act(a, Some(bn.eval_affine()?), x, s),
                    _ => return Err(Error::Invalid(format!("{} follows another batch norm after the average pool: it cannot be folded", bn.name))),
                };
                return Ok(Value::Pooled(Box::new(v), p));
            }
            (leaf, Value::Layer(l)) => match (step(Some(l.chain()), leaf), leaf) {
                (Step::Merge, Leaf::Conv(c)) => return Ok(Value::Layer(Pending { w: l.w.merge(&c.name, &Weights::conv(c)?)?, ..l })),
                (Step::Merge, Leaf::Linear(n)) => return Ok(Value::Layer(Pending { w: l.w.merge(&n.name, &Weights::linear(n)?)?, ..l })),
                (Step::Absorb, Leaf::BatchNorm(bn)) => return Ok(Value::Layer(l.bn(bn)?)),
                (Step::Absorb, Leaf::Act(a)) => {
                    let c = coefficients(a)?;
                    return Ok(Value::Layer(l.then(&a.name, &[c[1]], &[c[0]])?));
                }
                (Step::Absorb, Leaf::Dropout(_)) => return Ok(Value::Layer(l)),
                _ => Value::Layer(l),
            },
            (_, x) => x,
        };
        let (x, s) = self.ready(x)?;
        let g = &mut self.g;
        let y = match leaf {
            Leaf::Conv(c) => return Ok(Value::Layer(Pending { op: Op::Conv(c), name: c.name.clone(), w: Weights::conv(c)?, x, s })),
            Leaf::Linear(l) => return Ok(Value::Layer(Pending { op: Op::Gemm(l), name: l.name.clone(), w: Weights::linear(l)?, x, s })),
            Leaf::Act(a) => return Ok(Value::Act(a, None, x, s)),
            Leaf::Pool(p) => return pool(g, &x, p, &s).map(|(y, s)| Value::Ready(y, s)),
            Leaf::Dropout(_) => return Ok(Value::Ready(x, s)),
            Leaf::Flatten => g.node("Flatten", &[&x], vec![attr_int("axis", 1)], "flatten"),
            Leaf::BatchNorm(bn) => return Err(Error::Invalid(format!("{} follows no convolution, linear layer or activation → average pool: it cannot be folded", bn.name))),
        };
        Ok(Value::Ready(y, leaf.out_shape(&s)?))
    }
}

impl<'a> Flow<'a> for Export<'a> {
    type V = Value<'a>;
    type Error = Error;

    fn leaf(&mut self, leaf: Leaf<'a>, x: Value<'a>, _: usize) -> Result<Value<'a>> {
        if self.merged.is_some() {
            return Ok(x);
        }
        self.value(leaf, x)
    }

    fn enter(&mut self, node: Node<'a>, x: Value<'a>, _: usize) -> Result<Value<'a>> {
        if self.merged.is_some() {
            return Ok(x);
        }
        let (x, s) = self.ready(x)?;
        if let Node::Branches(b) = node {
            if let Some(f) = fire::merge(b)? {
                let y = self.fire(f, x.clone(), s.clone())?;
                self.merged = Some((b, y));
                self.fires += 1;
            }
        }
        Ok(Value::Ready(x, s))
    }

    fn exit(&mut self, _: &'a Block, _: &Value<'a>, out: Value<'a>, _: usize) -> Result<Value<'a>> {
        if self.merged.is_some() {
            return Ok(out);
        }
        self.ready(out).map(|(y, s)| Value::Ready(y, s))
    }

    fn join(&mut self, b: &'a Branches, x: &Value<'a>, outs: Vec<Value<'a>>, _: usize) -> Result<Value<'a>> {
        match self.merged.take() {
            Some((m, (y, s))) if std::ptr::eq(m, b) => return Ok(Value::Ready(y, s)),
            Some(inner) => {
                // branches inside merged ones: passed over too
                self.merged = Some(inner);
                return Ok(x.clone());
            }
            None => {}
        }
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

/// An exported student.
pub struct Onnx {
    pub bytes: Vec<u8>,
    /// The operator types it uses, in first-use order.
    pub ops: Vec<String>,
    /// Fire modules whose branches became one convolution (`he::fire`).
    pub fires_merged: usize,
}

/// The student as ONNX.
pub fn export(model: &Model) -> Result<Onnx> {
    let mut export = Export::default();
    let out = model.root.flow(&mut export, Value::Ready("input".to_string(), model.in_shape(1)), 0)?;
    let (out, _) = export.ready(out)?;
    let fires_merged = export.fires;
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
    Ok(Onnx { bytes: m, ops: g.ops, fires_merged })
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
