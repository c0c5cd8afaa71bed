//! The kernel suite of `heft check`: every case of data/reference/kernels.safetensors (one op
//! forward and backward, or three optimiser steps) run on heft's kernels.

use super::compare::{compare, Row, EW, RED};
use super::golden::{float, num, Golden};
use crate::error::{Error, Result};
use crate::ops::{self, avgpool::AvgPool, maxpool::Pool};
use crate::tensor::Tensor;
use crate::Gpu;
use serde_json::Value;

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
                let (x, w, b, dy) = (t("x")?, t("w")?, t("b")?, t("dy")?);
                // every form (the tuner may choose either per layer)
                for (name, form) in ops::conv2d::FORMS {
                    push(&format!("{name} y"), &ops::conv2d::forward_with(form, &x, &w, Some(&b), s, p, false)?, want("y")?, RED)?;
                    let (dx, dw, db) = ops::conv2d::backward_with(form, &x, &w, &dy, s, p, true)?;
                    push(&format!("{name} dx"), &dx.ok_or_else(|| Error::Invalid("no dx".into()))?, want("dx")?, RED)?;
                    push(&format!("{name} dw"), &dw, want("dw")?, RED)?;
                    push(&format!("{name} db"), &db, want("db")?, RED)?;
                }
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
                let (dx, dc) = ops::quad::backward(&x, &c, r, &t("dy")?, false)?;
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
                    ops::optim::adam(&p, &t(&format!("g{step}"))?, &m, &v, &cfg, step, ops::optim::GradClip::None)?;
                }
                // three steps of a few f32 operations per element, each rounding at 2⁻²⁴ relative;
                // v holds squared gradients and m̂/√v̂ divides them: 1e-4 relative for m and v
                push("p3", &p, want("p3")?, (1e-6, 1e-5))?;
                push("m3", &m, want("m3")?, (1e-7, 1e-4))?;
                push("v3", &v, want("v3")?, (1e-9, 1e-4))?;
            }
            "sgd" => {
                let (lr, mom, wd) = (float(&meta, "lr")?, float(&meta, "momentum")?, float(&meta, "weight_decay")?);
                let p = t("p0")?;
                let buf = ops::elementwise::full(gpu, p.shape(), 0.0)?;
                for step in 1..=3 {
                    ops::optim::sgd(&p, &t(&format!("g{step}"))?, &buf, lr, mom, wd, ops::optim::GradClip::None)?;
                }
                push("p3", &p, want("p3")?, (1e-6, 1e-5))?;
                push("buf3", &buf, want("buf3")?, (1e-6, 1e-5))?;
            }
            other => return Err(Error::Invalid(format!("golden case {case}: unknown kernel family {other}"))),
        }
    }
    Ok(rows)
}

