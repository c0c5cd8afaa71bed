//! Fidelity checks (`heft check`): heft's kernels and whole models against PyTorch golden files
//! (`data/reference/`, made by `tools/reference/make_golden.py`), and against the CPU reference
//! on fresh random shapes. Each comparison is a `Row` with its errors and tolerance
//! `|a − b| ≤ atol + rtol·|ref|`.

use crate::error::{Error, Result};
use crate::nn::convert::to_student;
use crate::nn::functional as F;
use crate::nn::layers::{ActKind, Ctx};
use crate::nn::model::{Arch, Model, ModelConfig, StudentConfig};
use crate::ops::{self, avgpool::AvgPool, maxpool::Pool};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::Gpu;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// The golden files shipped with heft, compiled into the binary.
pub const GOLDEN: &[(&str, &[u8])] = &[
    ("kernels", include_bytes!("../data/reference/kernels.safetensors")),
    ("alexnet_teacher", include_bytes!("../data/reference/alexnet_teacher.safetensors")),
    ("alexnet_student", include_bytes!("../data/reference/alexnet_student.safetensors")),
    ("squeezenet1_1_teacher", include_bytes!("../data/reference/squeezenet1_1_teacher.safetensors")),
    ("squeezenet1_1_student", include_bytes!("../data/reference/squeezenet1_1_student.safetensors")),
];

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub kernel: String,
    pub case: String,
    pub max_abs: f64,
    pub max_rel: f64,
    pub atol: f64,
    pub rtol: f64,
    pub pass: bool,
}

/// Compare `got` with `want` under `atol + rtol·|want|`.
pub fn compare(kernel: &str, case: &str, got: &[f32], want: &[f32], atol: f64, rtol: f64) -> Row {
    let (mut max_abs, mut max_rel, mut pass) = (0.0f64, 0.0f64, got.len() == want.len());
    for (g, w) in got.iter().zip(want) {
        let (g, w) = (*g as f64, *w as f64);
        let err = (g - w).abs();
        if !(err <= atol + rtol * w.abs()) {
            pass = false;
        }
        max_abs = max_abs.max(if err.is_nan() { f64::INFINITY } else { err });
        max_rel = max_rel.max(err / w.abs().max(1e-12));
    }
    Row { kernel: kernel.into(), case: case.into(), max_abs, max_rel, atol, rtol, pass }
}

/// A safetensors file of `<case>/<tensor>` f32 tensors with per-case JSON metadata.
pub struct Golden {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    meta: HashMap<String, String>,
}

impl Golden {
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Golden> {
        let bad = |e: String| Error::Invalid(format!("{name}: {e}"));
        let (_, md) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let mut tensors = HashMap::new();
        for (n, v) in st.tensors() {
            if v.dtype() != safetensors::Dtype::F32 {
                return Err(bad(format!("tensor {n} is {:?}, expected F32", v.dtype())));
            }
            let data = v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            tensors.insert(n, (v.shape().to_vec(), data));
        }
        Ok(Golden { tensors, meta: md.metadata().clone().unwrap_or_default() })
    }

    pub fn open(path: &std::path::Path) -> Result<Golden> {
        let bytes = std::fs::read(path).map_err(|err| Error::Io { path: path.display().to_string(), err })?;
        Golden::parse(&path.display().to_string(), &bytes)
    }

    pub fn get(&self, name: &str) -> Result<&(Vec<usize>, Vec<f32>)> {
        self.tensors.get(name).ok_or_else(|| Error::Invalid(format!("golden file has no tensor {name}")))
    }

    pub fn data(&self, name: &str) -> Result<&[f32]> {
        Ok(&self.get(name)?.1)
    }

    pub fn upload(&self, gpu: &Gpu, name: &str) -> Result<Tensor> {
        let (shape, data) = self.get(name)?;
        Tensor::from_f32(gpu, data, shape)
    }

    pub fn labels(&self, gpu: &Gpu, name: &str, classes: usize) -> Result<Tensor> {
        let l: Vec<u32> = self.data(name)?.iter().map(|&v| v as u32).collect();
        ops::cross_entropy::labels(gpu, &l, classes)
    }

    /// Case names (tensor-name prefixes before '/'), sorted.
    pub fn cases(&self) -> Vec<String> {
        let mut c: Vec<String> = self.tensors.keys().filter_map(|k| k.split_once('/').map(|(c, _)| c.to_string())).collect();
        c.sort();
        c.dedup();
        c
    }

    /// Metadata entry `key` as JSON (text that is not JSON is taken as a string).
    pub fn meta(&self, key: &str) -> Result<Value> {
        let s = self.meta.get(key).ok_or_else(|| Error::Invalid(format!("golden file has no metadata {key}")))?;
        Ok(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
    }

    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        v.sort();
        v
    }
}

/// `meta[key]` (or `meta` itself when `key` is empty) as an integer.
fn num(meta: &Value, key: &str) -> Result<usize> {
    let v = if key.is_empty() { meta } else { &meta[key] };
    v.as_u64().map(|v| v as usize).ok_or_else(|| Error::Invalid(format!("metadata has no integer {key}: {meta}")))
}

fn float(meta: &Value, key: &str) -> Result<f32> {
    let v = if key.is_empty() { meta } else { &meta[key] };
    v.as_f64().map(|v| v as f32).ok_or_else(|| Error::Invalid(format!("metadata has no number {key}: {meta}")))
}

// Tolerances (DESIGN.md): element-wise 1e-6 abs; reductions, convolutions, losses
// 1e-5 + 1e-4·|ref|; optimiser states after 3 steps 1e-6 + 1e-4·|ref|.
const EW: (f64, f64) = (1e-6, 0.0);
const RED: (f64, f64) = (1e-5, 1e-4);

/// Every kernel case of the golden kernels file.
pub fn kernels(gpu: &Gpu, g: &Golden) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for case in g.cases() {
        let t = |n: &str| g.upload(gpu, &format!("{case}/{n}"));
        let want = |n: &str| g.data(&format!("{case}/{n}"));
        let meta = g.meta(&case).unwrap_or(Value::Null);
        let family = case.split('.').next().unwrap_or("").to_string();
        let mut push = |what: &str, got: &Tensor, want: &[f32], tol: (f64, f64)| -> Result<()> {
            rows.push(compare(&family, &format!("{case} {what}"), &got.to_f32()?, want, tol.0, tol.1));
            Ok(())
        };
        match family.as_str() {
            "conv2d" => {
                let (s, p) = (num(&meta, "stride")?, num(&meta, "pad")?);
                let (x, w, b) = (t("x")?, t("w")?, t("b")?);
                push("y", &ops::conv2d::forward(&x, &w, Some(&b), s, p)?, want("y")?, RED)?;
                let (dx, dw, db) = ops::conv2d::backward(&x, &w, &t("dy")?, s, p, true)?;
                push("dx", &dx.ok_or_else(|| Error::Invalid("no dx".into()))?, want("dx")?, RED)?;
                push("dw", &dw, want("dw")?, RED)?;
                push("db", &db, want("db")?, RED)?;
            }
            "linear" => {
                let (x, w, b) = (t("x")?, t("w")?, t("b")?);
                push("y", &ops::linear::forward(&x, &w, Some(&b))?, want("y")?, RED)?;
                let (dx, dw, db) = ops::linear::backward(&x, &w, &t("dy")?, true)?;
                push("dx", &dx.ok_or_else(|| Error::Invalid("no dx".into()))?, want("dx")?, RED)?;
                push("dw", &dw, want("dw")?, RED)?;
                push("db", &db, want("db")?, RED)?;
            }
            "maxpool" => {
                let pool = Pool { kernel: num(&meta, "kernel")?, stride: num(&meta, "stride")?, pad: num(&meta, "pad")?, ceil: meta["ceil"].as_bool().unwrap_or(false) };
                let x = t("x")?;
                let (y, idx) = ops::maxpool::forward(&x, pool)?;
                push("y", &y, want("y")?, EW)?;
                push("dx", &ops::maxpool::backward(x.shape(), &idx, &t("dy")?, pool)?, want("dx")?, EW)?;
            }
            "avgpool" => {
                let kind = match meta["adaptive"].as_array() {
                    Some(a) => AvgPool::Adaptive(a[0].as_u64().unwrap_or(1) as usize, a[1].as_u64().unwrap_or(1) as usize),
                    None => AvgPool::Window(Pool { kernel: num(&meta, "kernel")?, stride: num(&meta, "stride")?, pad: num(&meta, "pad")?, ceil: meta["ceil"].as_bool().unwrap_or(false) }),
                };
                let x = t("x")?;
                push("y", &ops::avgpool::forward(&x, kind)?, want("y")?, RED)?;
                push("dx", &ops::avgpool::backward(x.shape(), &t("dy")?, kind)?, want("dx")?, RED)?;
            }
            "relu" => {
                let x = t("x")?;
                push("y", &ops::relu::forward(&x)?, want("y")?, EW)?;
                push("dx", &ops::relu::backward(&x, &t("dy")?)?, want("dx")?, EW)?;
            }
            "quad" | "blend" => {
                let r = if family == "blend" { float(&meta, "ratio")? } else { 1.0 };
                let (x, c) = (t("x")?, t("coef")?);
                push("y", &ops::quad::forward(&x, &c, r)?, want("y")?, (1e-6, 1e-6))?;
                let (dx, dc) = ops::quad::backward(&x, &c, r, &t("dy")?)?;
                push("dx", &dx, want("dx")?, (1e-6, 1e-6))?;
                push("dcoef", &dc, want("dcoef")?, RED)?;
            }
            "batchnorm" => {
                let (eps, mom) = (float(&meta, "eps")?, float(&meta, "momentum")?);
                let (x, w, b) = (t("x")?, t("weight")?, t("bias")?);
                if case.ends_with("eval") {
                    let y = ops::batchnorm::forward_eval(&x, &w, &b, &t("running_mean")?, &t("running_var")?, eps)?;
                    push("y", &y, want("y")?, RED)?;
                } else {
                    let c = w.numel();
                    let (rm, rv) = (ops::elementwise::full(gpu, &[c], 0.0)?, ops::elementwise::full(gpu, &[c], 1.0)?);
                    let (y, saved) = ops::batchnorm::forward_train(&x, &w, &b, &rm, &rv, eps, mom)?;
                    push("y", &y, want("y")?, RED)?;
                    push("running_mean", &rm, want("running_mean")?, RED)?;
                    push("running_var", &rv, want("running_var")?, RED)?;
                    let (dx, dw, db) = ops::batchnorm::backward(&t("dy")?, &w, &saved)?;
                    // dx subtracts nearly equal per-channel sums: 1e-4 absolute
                    push("dx", &dx, want("dx")?, (1e-4, 1e-3))?;
                    push("dweight", &dw, want("dweight")?, RED)?;
                    push("dbias", &db, want("dbias")?, RED)?;
                }
            }
            "ce" => {
                let (z, w) = (t("logits")?, t("weights")?);
                let y = g.labels(gpu, &format!("{case}/labels"), w.numel())?;
                let (loss, saved) = ops::cross_entropy::forward(&z, &y, &w)?;
                push("loss", &loss, want("loss")?, RED)?;
                let one = ops::elementwise::full(gpu, &[1], 1.0)?;
                push("dlogits", &ops::cross_entropy::backward(&z, &y, &w, &saved, &one)?, want("dlogits")?, RED)?;
            }
            "kd" => {
                let temp = float(&meta, "T")?;
                let (s, te) = (t("student")?, t("teacher")?);
                push("loss", &ops::distill::forward(&s, &te, temp)?, want("loss")?, (1e-5 * (temp * temp) as f64, 1e-4))?;
                let one = ops::elementwise::full(gpu, &[1], 1.0)?;
                push("dstudent", &ops::distill::backward(&s, &te, temp, &one)?, want("dstudent")?, RED)?;
            }
            "adam" | "adamw" => {
                let cfg = ops::optim::AdamCfg { lr: float(&meta, "lr")?, weight_decay: float(&meta, "weight_decay")?, decoupled: family == "adamw", ..Default::default() };
                let p = t("p0")?;
                let (m, v) = (ops::elementwise::full(gpu, p.shape(), 0.0)?, ops::elementwise::full(gpu, p.shape(), 0.0)?);
                for step in 1..=3u64 {
                    ops::optim::adam(&p, &t(&format!("g{step}"))?, &m, &v, &cfg, step)?;
                }
                push("p3", &p, want("p3")?, (1e-6, 1e-5))?;
                push("m3", &m, want("m3")?, (1e-7, 1e-4))?;
                push("v3", &v, want("v3")?, (1e-9, 1e-4))?;
            }
            "sgd" => {
                let (lr, mom, wd) = (float(&meta, "lr")?, float(&meta, "momentum")?, float(&meta, "weight_decay")?);
                let p = t("p0")?;
                let buf = ops::elementwise::full(gpu, p.shape(), 0.0)?;
                for step in 1..=3 {
                    ops::optim::sgd(&p, &t(&format!("g{step}"))?, &buf, lr, mom, wd)?;
                }
                push("p3", &p, want("p3")?, (1e-6, 1e-5))?;
                push("buf3", &buf, want("buf3")?, (1e-6, 1e-5))?;
            }
            other => return Err(Error::Invalid(format!("golden case {case}: unknown kernel family {other}"))),
        }
    }
    Ok(rows)
}

/// The model a whole-model golden file describes (metadata: arch, classes, in_ch, input, width,
/// hidden, conv1_pad, student, student_init, student_batchnorm), with its weights loaded.
fn golden_model(gpu: &Gpu, g: &Golden) -> Result<Model> {
    let arch: Arch = serde_json::from_value(g.meta("arch")?).map_err(|e| Error::Invalid(format!("metadata arch: {e}")))?;
    let classes = num(&g.meta("classes")?, "")?;
    let mut cfg = ModelConfig::new(arch, (0..classes).map(|i| format!("class{i}")).collect(), num(&g.meta("in_ch")?, "")?, num(&g.meta("input")?, "")?);
    cfg.width = float(&g.meta("width")?, "")?;
    cfg.hidden = g.meta("hidden").ok().and_then(|v| v.as_u64()).unwrap_or(4096) as usize;
    cfg.conv1_pad = g.meta("conv1_pad").ok().and_then(|v| v.as_u64()).unwrap_or(5) as usize;
    cfg.dropout = 0.0;
    let teacher = Model::teacher(gpu, cfg, 0)?;
    let mut model = if g.meta("student").ok().and_then(|v| v.as_bool()).unwrap_or(false) {
        let init: Vec<f32> = g.meta("student_init")?.as_array().map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect()).unwrap_or_default();
        let init = <[f32; 3]>::try_from(init).map_err(|_| Error::Invalid("metadata student_init needs 3 numbers".into()))?;
        let batchnorm = g.meta("student_batchnorm").ok().and_then(|v| v.as_bool()).unwrap_or(true);
        to_student(&teacher, &StudentConfig { act: ActKind::Poly, init, batchnorm })?
    } else {
        teacher
    };
    // weights/<name> → the model's tensors, by name; everything must be there
    let mut missing = Vec::new();
    for (name, t) in model.state() {
        match g.get(&format!("weights/{name}")) {
            Ok((shape, data)) if shape == t.shape() => t.write_f32(data)?,
            Ok((shape, _)) => return Err(Error::Invalid(format!("weights/{name} has shape {shape:?}, the model {:?}", t.shape()))),
            Err(_) => missing.push(name),
        }
    }
    if !missing.is_empty() {
        return Err(Error::Invalid(format!("the golden file lacks weights for: {}", missing.join(", "))));
    }
    model.finish_transition();
    Ok(model)
}

/// Whole-model comparison: logits, loss and every parameter gradient of one training-mode
/// step, then a 3-step Adam loss trajectory. Gradient rows are in layer order, so the first
/// failing row names the first layer that diverges.
pub fn model(gpu: &Gpu, name: &str, g: &Golden) -> Result<Vec<Row>> {
    let model = golden_model(gpu, g)?;
    let x = g.upload(gpu, "x")?;
    let labels = g.labels(gpu, "labels", model.config.classes)?;
    let weights = ops::elementwise::full(gpu, &[model.config.classes], 1.0)?;
    let mut rows = Vec::new();
    let mut trajectory = Vec::new();
    let adam = ops::optim::AdamCfg { lr: 1e-3, weight_decay: 5e-4, ..Default::default() };
    let mut trainer = crate::optim::Trainer::adam(adam);
    for step in 0..3 {
        let mut tape = Tape::new();
        let logits = model.forward(&mut tape, &Var::constant(x.clone()), &mut Ctx::train(0))?;
        let loss = F::cross_entropy(&mut tape, &logits, &labels, &weights)?;
        let grads = tape.backward(&loss)?;
        trajectory.push(loss.value.to_f32()?[0]);
        if step == 0 {
            rows.push(compare(name, "logits", &logits.value.to_f32()?, g.data("logits")?, 1e-4, 1e-3));
            rows.push(compare(name, "loss", &loss.value.to_f32()?, g.data("loss")?, 1e-5, 1e-4));
            for p in model.params() {
                let got = grads.get(&p.id).ok_or_else(|| Error::Invalid(format!("no gradient for {}", p.name)))?;
                let want = g.data(&format!("grad/{}", p.name))?;
                // f32 on both sides with different summation orders, through BN and x²: 1e-4 of
                // the tensor's largest gradient, at least 1e-6 (a conv bias followed by
                // training-mode BN has a true gradient of 0: both sides hold rounding noise)
                let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
                rows.push(compare(name, &format!("grad {}", p.name), &got.to_f32()?, want, 1e-4 * scale.max(1e-2), 1e-2));
            }
        }
        trainer.step(&model.params(), &grads)?;
    }
    rows.push(compare(name, "3-step Adam losses", &trajectory, g.data("trajectory")?, 1e-4, 1e-3));
    Ok(rows)
}

/// Every golden file shipped with heft.
pub fn golden(gpu: &Gpu) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (name, bytes) in GOLDEN {
        let g = Golden::parse(name, bytes)?;
        rows.extend(if *name == "kernels" { kernels(gpu, &g)? } else { model(gpu, name, &g)? });
    }
    Ok(rows)
}

/// The first failing row, for "the first layer that diverges".
pub fn first_failure(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| !r.pass)
}

fn rand_vec(rng: &mut crate::rng::Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.range(-scale, scale)).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// `n` rounds of random shapes per kernel family against the CPU reference (f64).
pub fn random(gpu: &Gpu, n: usize, seed: u64) -> Result<Vec<Row>> {
    use crate::reference as r;
    let mut rng = crate::rng::Rng::new(seed);
    let mut rows = Vec::new();
    for round in 0..n {
        let mut dim = |lo: usize, hi: usize| lo + rng.below(hi - lo + 1);
        let (nb, c, co, k, stride) = (dim(1, 3), dim(1, 6), dim(1, 9), [1, 3, 5][round % 3], dim(1, 3));
        let pad = k / 2;
        let hw = dim(k.max(3), 17);
        let mut rng2 = crate::rng::Rng::new(seed ^ ((round as u64 + 1) * 0x9E37));
        let x = rand_vec(&mut rng2, nb * c * hw * hw, 1.0);
        let w = rand_vec(&mut rng2, co * c * k * k, 1.0);
        let b = rand_vec(&mut rng2, co, 1.0);
        let g = r::conv2d::Geom { n: nb, c, h: hw, w: hw, co, kh: k, kw: k, stride, pad };
        let case = format!("random {nb}x{c}x{hw}x{hw} -> {co} k{k} s{stride} p{pad}");
        let (xt, wt, bt) = (Tensor::from_f32(gpu, &x, &[nb, c, hw, hw])?, Tensor::from_f32(gpu, &w, &[co, c, k, k])?, Tensor::from_f32(gpu, &b, &[co])?);
        let y = ops::conv2d::forward(&xt, &wt, Some(&bt), stride, pad)?;
        let want = r::conv2d::forward(&f64s(&x), &f64s(&w), Some(&f64s(&b)), &g);
        rows.push(compare("conv2d", &format!("{case} y"), &y.to_f32()?, &f32s(&want), RED.0, RED.1));
        let dy = rand_vec(&mut rng2, y.numel(), 1.0);
        let (dx, dw, db) = ops::conv2d::backward(&xt, &wt, &Tensor::from_f32(gpu, &dy, y.shape())?, stride, pad, true)?;
        let (rdx, rdw, rdb) = r::conv2d::backward(&f64s(&x), &f64s(&w), &f64s(&dy), &g);
        rows.push(compare("conv2d", &format!("{case} dx"), &dx.ok_or_else(|| Error::Invalid("no dx".into()))?.to_f32()?, &f32s(&rdx), RED.0, RED.1));
        rows.push(compare("conv2d", &format!("{case} dw"), &dw.to_f32()?, &f32s(&rdw), RED.0, RED.1));
        rows.push(compare("conv2d", &format!("{case} db"), &db.to_f32()?, &f32s(&rdb), RED.0, RED.1));
        // linear on the flattened input
        let fin = c * hw * hw;
        let lw = rand_vec(&mut rng2, co * fin, 0.2);
        let (x2, w2) = (xt.reshape(&[nb, fin])?, Tensor::from_f32(gpu, &lw, &[co, fin])?);
        let ly = ops::linear::forward(&x2, &w2, Some(&bt))?;
        let want = r::linear::forward(&f64s(&x), &f64s(&lw), Some(&f64s(&b)), nb, fin, co);
        rows.push(compare("linear", &format!("random {nb}x{fin} -> {co} y"), &ly.to_f32()?, &f32s(&want), RED.0, RED.1));
        // pooling over the input, quad and relu on it
        let pool = Pool { kernel: 3.min(hw), stride: 2, pad: 0, ceil: round % 2 == 1 };
        let (my, _) = ops::maxpool::forward(&xt, pool)?;
        let (oh, ow) = (my.shape()[2], my.shape()[3]);
        let (want, _) = r::maxpool::forward(&f64s(&x), nb * c, hw, hw, oh, ow, pool.kernel, 2, 0);
        rows.push(compare("maxpool", &format!("random {nb}x{c}x{hw}x{hw} k{} ceil {}", pool.kernel, pool.ceil), &my.to_f32()?, &f32s(&want), EW.0, EW.1));
        let ay = ops::avgpool::forward(&xt, AvgPool::Window(pool))?;
        let want = r::avgpool::forward(&f64s(&x), nb * c, hw, hw, oh, ow, Some((pool.kernel, 2, 0)));
        rows.push(compare("avgpool", &format!("random {nb}x{c}x{hw}x{hw} k{} ceil {}", pool.kernel, pool.ceil), &ay.to_f32()?, &f32s(&want), 1e-6, 1e-6));
        let coef = [rng2.range(-1.0, 1.0), rng2.range(-1.0, 1.0), rng2.range(-1.0, 1.0)];
        let ratio = [1.0, 0.5, 0.0][round % 3];
        let qy = ops::quad::forward(&xt, &Tensor::from_f32(gpu, &coef, &[3])?, ratio)?;
        let want = r::quad::forward(&f64s(&x), &[coef[0] as f64, coef[1] as f64, coef[2] as f64], ratio as f64);
        rows.push(compare("quad", &format!("random {} elements ratio {ratio}", x.len()), &qy.to_f32()?, &f32s(&want), 1e-6, 1e-6));
        // every GEMM variant the adapter runs (the tuner may choose any) on a random product
        let (m, nn, kk) = (dim(1, 70), dim(1, 140), dim(1, 40));
        let (ga, gb) = (rand_vec(&mut rng2, m * kk, 1.0), rand_vec(&mut rng2, nn * kk, 1.0));
        let want = r::matmul::matmul_nt(&f64s(&ga), &f64s(&gb), m, nn, kk);
        let kp = ops::matmul::pad4(kk);
        let ap = ops::pack::pad_cols(&Tensor::from_f32(gpu, &ga, &[m, kk])?, kp)?;
        let bp = ops::pack::pad_cols(&Tensor::from_f32(gpu, &gb, &[nn, kk])?, kp)?;
        for (i, v) in ops::matmul::VARIANTS.iter().enumerate().filter(|(_, v)| v.available(gpu)) {
            let c = Tensor::empty(gpu, &[m, nn], crate::DType::F32)?;
            ops::matmul::matmul_into_with(i, &ap, &bp, m, nn, kp, ops::matmul::Bias::None, &c, ops::matmul::OutMap::row_major(nn), false)?;
            rows.push(compare("matmul", &format!("random {m}x{nn}x{kk} {}", v.name), &c.to_f32()?, &f32s(&want), RED.0, RED.1));
        }
        // losses on random logits
        let classes = 2 + rng2.below(5);
        let z = rand_vec(&mut rng2, nb * classes, 4.0);
        let labels: Vec<u32> = (0..nb).map(|_| rng2.below(classes) as u32).collect();
        let cw = vec![1.0f32; classes];
        let (zt, cwt) = (Tensor::from_f32(gpu, &z, &[nb, classes])?, Tensor::from_f32(gpu, &cw, &[classes])?);
        let (loss, _) = ops::cross_entropy::forward(&zt, &ops::cross_entropy::labels(gpu, &labels, classes)?, &cwt)?;
        let want = r::cross_entropy::forward(&f64s(&z), &labels, &f64s(&cw), classes);
        rows.push(compare("cross_entropy", &format!("random {nb}x{classes}"), &loss.to_f32()?, &[want as f32], RED.0, RED.1));
    }
    Ok(rows)
}
