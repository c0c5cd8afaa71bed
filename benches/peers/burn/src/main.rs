//! burn-step: the Burn side of `heft bench --steps --compare`. Times one training step of heft's
//! models in Burn (wgpu backend with autodiff, Burn's default fusion and autotune) on the same data
//! shape and recipe as heft's `RandomStep` and benches/peers/torch_step.py: random N(0,1) input,
//! labels i % 2, class-weighted cross-entropy, Adam lr 1e-3 with L2 weight decay 5e-4 and the
//! activation coefficients at lr 2e-4; the student step adds the teacher's forward (no grad) and
//! 0.1·T²·KL(softmax(t/T) ‖ softmax(s/T)) at T = 10. The loss is read back every step.
//!
//! Usage: burn-step --json '<rows>' [--reps 5] [--params]
//! where <rows> is a JSON list of {"arch", "input", "width", "hidden", "student", "batch"}.
//! Prints one JSON object per row: {"row": i, "ms": median step milliseconds, "device": ...,
//! "params": trainable parameters of the trained model}.
//! With --params, prints {"row", "params"} per row without timing anything.

mod alexnet;
mod layers;
mod squeezenet;

use alexnet::AlexNet;
use burn::module::{ModuleVisitor, Param, ParamGroup};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::Distribution;
use serde::Deserialize;
use squeezenet::SqueezeNet;
use std::time::Instant;

/// The Burn release this crate pins in Cargo.toml, for the device string.
const BURN_VERSION: &str = "0.22.1";
const CLASSES: usize = 2;
/// Distillation temperature and weight of the KL term.
const T: f64 = 10.0;
const ALPHA: f64 = 0.1;

/// One benchmarked step, as heft's `StepCase` serialises it.
#[derive(Deserialize)]
struct Row {
    arch: String,
    input: usize,
    width: f64,
    hidden: usize,
    student: bool,
    batch: usize,
}

#[derive(Module, Debug)]
enum Model {
    Alexnet(AlexNet),
    Squeezenet(SqueezeNet),
}

impl Model {
    fn new(row: &Row, student: bool, device: &Device) -> Result<Self, String> {
        match row.arch.as_str() {
            "alexnet" => Ok(Model::Alexnet(AlexNet::new(CLASSES, row.input, row.width, row.hidden, student, device))),
            "squeezenet1_1" => Ok(Model::Squeezenet(SqueezeNet::new(CLASSES, row.width, student, device))),
            other => Err(format!("no model {other} here (alexnet and squeezenet1_1 are)")),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Model::Alexnet(m) => m.forward(x),
            Model::Squeezenet(m) => m.forward(x),
        }
    }
}

/// Counts the trainable parameters, as PyTorch's `parameters()` does: every float parameter but
/// BatchNorm's running statistics (which Burn's `num_params` counts too).
#[derive(Default)]
struct Trainable {
    path: Vec<String>,
    count: usize,
}

impl ModuleVisitor for Trainable {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.path.last().is_some_and(|n| n.starts_with("running_")) {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

fn trainable(model: &Model) -> usize {
    let mut t = Trainable::default();
    model.visit(&mut t);
    t.count
}

/// Everything one training step needs besides the model.
struct Step {
    optim: ModuleOptimizer,
    lr: ModuleLearningRate,
    loss: CrossEntropyLoss,
    x: Tensor<4>,
    y: Tensor<1, Int>,
    /// The frozen teacher (no autodiff, eval mode) of a student step.
    teacher: Option<Model>,
}

impl Step {
    /// One step: forward, loss, backward, Adam, the loss read back; returns the updated model.
    fn run(&mut self, model: Model) -> (Model, f32) {
        let logits = model.forward(self.x.clone());
        let mut loss = self.loss.forward(logits.clone(), self.y.clone());
        if let Some(teacher) = &self.teacher {
            let t = teacher.forward(self.x.clone().inner()).div_scalar(T);
            let (p, log_p) = (softmax(t.clone(), 1).autodiff(), log_softmax(t, 1).autodiff());
            let log_q = log_softmax(logits.div_scalar(T), 1);
            let kl = (p * (log_p - log_q)).sum().div_scalar(self.x.dims()[0] as f64);
            loss = loss + kl.mul_scalar(ALPHA * T * T);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = self.optim.step(self.lr.clone(), model, grads);
        (model, loss.into_scalar::<f32>())
    }
}

/// Median milliseconds of `reps` steps of `row` after two warm-up steps, and the trained
/// model's parameter count.
fn time_row(row: &Row, reps: usize, device: &Device) -> Result<(f64, usize), String> {
    device.seed(1);
    let teacher = Model::new(row, false, device)?;
    let (mut model, teacher) = if row.student { (Model::new(row, true, device)?, Some(teacher.valid())) } else { (teacher, None) };
    let params = trainable(&model);
    let adam = AdamConfig::new().with_epsilon(1e-8).with_weight_decay(Some(WeightDecayConfig::new(5e-4)));
    let lr = ModuleLrScheduler::new(1e-3).with_group(ParamGroup::from_predicate("coef"), 2e-4).step();
    let (b, s) = (row.batch, row.input);
    let mut step = Step {
        optim: adam.init(),
        lr,
        loss: CrossEntropyLossConfig::new().with_weights(Some(vec![1.0; CLASSES])).init(device),
        x: Tensor::random([b, 1, s, s], Distribution::Normal(0.0, 1.0), device),
        y: Tensor::<1, Int>::arange(0..b as i64, device).remainder_scalar(2),
        teacher,
    };
    let mut ms = Vec::with_capacity(reps);
    for i in 0..reps + 2 {
        let t = Instant::now();
        let (m, _loss) = step.run(model);
        model = m;
        device.sync().map_err(|e| format!("device sync failed: {e:?}"))?;
        if i >= 2 {
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    Ok((ms[ms.len() / 2], params))
}

/// The rows, the timed steps per row, and whether only parameter counts are wanted.
fn parse_args() -> Result<(Vec<Row>, usize, bool), String> {
    let usage = "usage: burn-step --json '<rows>' [--reps N] [--params]";
    let mut args = std::env::args().skip(1);
    let (mut rows, mut reps, mut params_only) = (None, 5, false);
    while let Some(a) = args.next() {
        if a == "--params" {
            params_only = true;
            continue;
        }
        let value = args.next().ok_or(format!("{a} needs a value; {usage}"))?;
        match a.as_str() {
            "--json" => rows = Some(serde_json::from_str::<Vec<Row>>(&value).map_err(|e| format!("--json: {e}"))?),
            "--reps" => reps = value.parse().ok().filter(|&r| r > 0).ok_or("--reps takes a positive integer")?,
            _ => return Err(format!("unknown argument {a}; {usage}")),
        }
    }
    Ok((rows.ok_or(usage)?, reps, params_only))
}

fn main() {
    let result = parse_args().and_then(|(rows, reps, params_only)| {
        let device = Device::wgpu(DeviceKind::DefaultDevice).autodiff();
        if params_only {
            for (i, row) in rows.iter().enumerate() {
                println!("{}", serde_json::json!({ "row": i, "params": trainable(&Model::new(row, row.student, &device)?) }));
            }
            return Ok(());
        }
        let adapter = device.identity().map_or_else(|| "wgpu".to_string(), |id| format!("wgpu {}", id.name));
        let name = format!("burn {} {adapter}", BURN_VERSION);
        for (i, row) in rows.iter().enumerate() {
            let (ms, params) = time_row(row, reps, &device)?;
            println!("{}", serde_json::json!({ "row": i, "ms": ms, "device": name, "params": params }));
        }
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("burn-step: {e}");
        std::process::exit(1);
    }
}
