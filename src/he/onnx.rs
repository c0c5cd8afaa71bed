//! `heft export --onnx`: the student as an ONNX graph of CKKS-friendly operators only (Conv,
//! Gemm, Mul, Add, AveragePool, Flatten, and Concat for SqueezeNet's fire modules). Batch norm
//! is folded away: into the preceding convolution when it follows one (SqueezeNet), else into
//! the coefficients of the activation before the average pool it follows (AlexNet: affine ∘
//! avg-pool ∘ poly = avg-pool ∘ (affine ∘ poly), exact because those pools have no padding),
//! which makes those coefficients per channel. Each activation c0 + c1·x + c2·x² becomes
//! Mul/Add nodes with its trained coefficients. The protobuf is written by hand (field numbers
//! of onnx.proto, IR version 8, opset 13).

use crate::error::{Error, Result};
use crate::nn::layers::{Activation, BatchNorm, Conv, Layer};
use crate::nn::model::Model;
use crate::ops::avgpool::AvgPool;

// ---- protobuf writing ----------------------------------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_int(out: &mut Vec<u8>, field: u32, v: i64) {
    varint(out, (field as u64) << 3);
    varint(out, v as u64);
}

fn field_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, ((field as u64) << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn field_str(out: &mut Vec<u8>, field: u32, s: &str) {
    field_bytes(out, field, s.as_bytes());
}

/// TensorProto: dims = 1, data_type = 2 (FLOAT = 1), name = 8, raw_data = 9.
fn tensor(name: &str, dims: &[usize], data: &[f32]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        field_int(&mut t, 1, d as i64);
    }
    field_int(&mut t, 2, 1);
    field_str(&mut t, 8, name);
    field_bytes(&mut t, 9, bytemuck::cast_slice(data));
    t
}

/// AttributeProto with int list (name = 1, ints = 8, type = 20: INTS = 7) or int (i = 3, INT = 2).
fn attr_ints(name: &str, v: &[i64]) -> Vec<u8> {
    let mut a = Vec::new();
    field_str(&mut a, 1, name);
    for &x in v {
        field_int(&mut a, 8, x);
    }
    field_int(&mut a, 20, 7);
    a
}

fn attr_int(name: &str, v: i64) -> Vec<u8> {
    let mut a = Vec::new();
    field_str(&mut a, 1, name);
    field_int(&mut a, 3, v);
    field_int(&mut a, 20, 2);
    a
}

/// ValueInfoProto of a float tensor whose first dimension is the symbolic batch "N".
fn value_info(name: &str, dims: &[usize]) -> Vec<u8> {
    let mut shape = Vec::new();
    for (i, &d) in dims.iter().enumerate() {
        let mut dim = Vec::new();
        if i == 0 {
            field_str(&mut dim, 2, "N");
        } else {
            field_int(&mut dim, 1, d as i64);
        }
        field_bytes(&mut shape, 1, &dim);
    }
    let mut tt = Vec::new();
    field_int(&mut tt, 1, 1);
    field_bytes(&mut tt, 2, &shape);
    let mut ty = Vec::new();
    field_bytes(&mut ty, 1, &tt);
    let mut vi = Vec::new();
    field_str(&mut vi, 1, name);
    field_bytes(&mut vi, 2, &ty);
    vi
}

/// The graph being built: nodes, initializers, and a counter for fresh value names.
struct Graph {
    nodes: Vec<Vec<u8>>,
    inits: Vec<Vec<u8>>,
    next: usize,
    ops: Vec<String>,
}

impl Graph {
    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}:{}", self.next)
    }

    fn init(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.inits.push(tensor(name, dims, data));
        name.to_string()
    }

    /// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<Vec<u8>>, hint: &str) -> String {
        let out = self.fresh(hint);
        let mut n = Vec::new();
        for i in inputs {
            field_str(&mut n, 1, i);
        }
        field_str(&mut n, 2, &out);
        field_str(&mut n, 3, &out);
        field_str(&mut n, 4, op);
        for a in attrs {
            field_bytes(&mut n, 5, &a);
        }
        self.nodes.push(n);
        if !self.ops.iter().any(|o| o == op) {
            self.ops.push(op.to_string());
        }
        out
    }
}

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

/// The student as ONNX bytes, and the operator types it uses.
pub fn export(model: &Model) -> Result<(Vec<u8>, Vec<String>)> {
    let shapes = model.shapes(1)?;
    let mut g = Graph { nodes: Vec::new(), inits: Vec::new(), next: 0, ops: Vec::new() };
    let mut x = "input".to_string();
    let layers = &model.layers;
    let mut i = 0;
    let mut prev_shape = vec![1, model.config.in_channels, model.config.input, model.config.input];
    while i < layers.len() {
        let next = layers.get(i + 1);
        let next_bn = |k: usize| match layers.get(k) {
            Some(Layer::BatchNorm(bn)) => Some(bn),
            _ => None,
        };
        let mut consumed = 1;
        x = match &layers[i] {
            Layer::Conv(c) => {
                let bn = next_bn(i + 1);
                consumed += bn.is_some() as usize;
                conv(&mut g, &x, c, bn)?
            }
            Layer::Linear(l) => {
                let (w, b) = (l.w.value.to_f32()?, l.b.as_ref().map(|b| b.value.to_f32()).transpose()?);
                let dims = l.w.value.shape().to_vec();
                let wn = g.init(&format!("{}.weight", l.name), &dims, &w);
                let bn = g.init(&format!("{}.bias", l.name), &[dims[0]], &b.unwrap_or(vec![0.0; dims[0]]));
                g.node("Gemm", &[&x, &wn, &bn], vec![attr_int("transB", 1)], &l.name)
            }
            Layer::Act(a) => {
                // act → avg-pool → BN: fold the BN into this activation's coefficients
                let fold = match (next, next_bn(i + 2)) {
                    (Some(Layer::AvgPool(AvgPool::Window(p))), Some(bn)) if p.pad == 0 => Some(bn),
                    _ => None,
                };
                let y = poly(&mut g, &x, a, fold.map(bn_affine).transpose()?, prev_shape.len())?;
                if let (Some(Layer::AvgPool(kind)), Some(_)) = (next, fold) {
                    consumed += 2;
                    avgpool(&mut g, &y, *kind, &shapes[i])?
                } else {
                    y
                }
            }
            Layer::AvgPool(kind) => avgpool(&mut g, &x, *kind, &prev_shape)?,
            Layer::Flatten => g.node("Flatten", &[&x], vec![attr_int("axis", 1)], "flatten"),
            Layer::Dropout(_) => x.clone(),
            Layer::Fire(f) => {
                let bn = |k: usize| f.bn.as_ref().map(|b| &b[k]);
                let s = conv(&mut g, &x, &f.squeeze, bn(0))?;
                let s = poly(&mut g, &s, &f.squeeze_act, None, 4)?;
                let e1 = conv(&mut g, &s, &f.expand1, bn(1))?;
                let e1 = poly(&mut g, &e1, &f.expand1_act, None, 4)?;
                let e3 = conv(&mut g, &s, &f.expand3, bn(2))?;
                let e3 = poly(&mut g, &e3, &f.expand3_act, None, 4)?;
                g.node("Concat", &[&e1, &e3], vec![attr_int("axis", 1)], &f.squeeze.name)
            }
            Layer::MaxPool(_) => return Err(Error::Invalid("max pooling is not HE-friendly: export the student, not the teacher".into())),
            Layer::BatchNorm(bn) => return Err(Error::Invalid(format!("{} follows neither a convolution nor act → avg-pool: it cannot be folded", bn.name))),
        };
        prev_shape = shapes[i + consumed - 1].clone();
        i += consumed;
    }
    let out = x;
    let mut graph = Vec::new();
    for n in &g.nodes {
        field_bytes(&mut graph, 1, n);
    }
    field_str(&mut graph, 2, "heft_student");
    for t in &g.inits {
        field_bytes(&mut graph, 5, t);
    }
    let input = [1, model.config.in_channels, model.config.input, model.config.input];
    field_bytes(&mut graph, 11, &value_info("input", &input));
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

fn avgpool(g: &mut Graph, x: &str, kind: AvgPool, in_shape: &[usize]) -> Result<String> {
    let (k, s, p, ceil) = match kind {
        AvgPool::Window(p) => ([p.kernel as i64; 2], p.stride as i64, p.pad as i64, p.ceil),
        AvgPool::Adaptive(1, 1) => ([in_shape[2] as i64, in_shape[3] as i64], 1, 0, false),
        AvgPool::Adaptive(h, w) => return Err(Error::Invalid(format!("adaptive average pooling to {h}x{w} has no fixed-window ONNX form"))),
    };
    let attrs = vec![
        attr_ints("kernel_shape", &k),
        attr_ints("strides", &[s, s]),
        attr_ints("pads", &[p, p, p, p]),
        attr_int("ceil_mode", ceil as i64),
        attr_int("count_include_pad", 1),
    ];
    Ok(g.node("AveragePool", &[x], attrs, "avgpool"))
}

/// Write `n` images of `ds` and the model's logits for them (eval mode) as safetensors
/// (`x`, `logits`); returns the number of images written.
pub fn write_sample(model: &Model, ds: &crate::data::Dataset, norm: crate::data::image::Normalize, n: usize, path: &std::path::Path) -> Result<usize> {
    use crate::data::loader::{Loader, LoaderCfg};
    let c = &model.config;
    let cfg = LoaderCfg::inference(c.input, c.in_channels, n, norm);
    let b = Loader::new(ds, cfg, 0).next().ok_or_else(|| Error::Invalid("the dataset has no readable test image".into()))??;
    let gpu = model.params()[0].value.gpu().clone();
    let x = crate::Tensor::from_f32(&gpu, &b.x, &[b.n, c.in_channels, c.input, c.input])?;
    let logits = model.infer(&x)?.to_f32()?;
    let (xb, lb): (Vec<u8>, Vec<u8>) = (bytemuck::cast_slice(&b.x).to_vec(), bytemuck::cast_slice(&logits).to_vec());
    let views = vec![
        ("x".to_string(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![b.n, c.in_channels, c.input, c.input], &xb)),
        ("logits".to_string(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![b.n, c.classes], &lb)),
    ];
    let views = views.into_iter().map(|(k, v)| v.map(|v| (k, v))).collect::<std::result::Result<Vec<_>, _>>().map_err(|e| Error::Invalid(e.to_string()))?;
    safetensors::serialize_to_file(views, None, path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    Ok(b.n)
}
