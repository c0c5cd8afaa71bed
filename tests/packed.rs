//! The optimiser's arenas (`Trainer::adopt`, `optim/packed.rs`): a trainer that packed its
//! model must move every parameter exactly as one that updates them one by one (the same
//! kernel over runs instead of single tensors), with the tape leaving each gradient in its slot
//! (no copy), in far fewer dispatches; runs split where parameters step differently (a frozen
//! or late-starting activation); state saved and restored through the arenas; a parameter over
//! one storage binding kept in its own buffer; and a parameter replaced behind the optimiser's
//! back is refused.

mod common;

use common::*;
use heft::nn::convert::to_student;
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};
use heft::ops::cross_entropy;
use heft::ops::elementwise::full;
use heft::optim::{Clip, Trainer};
use heft::step::{forward_backward, Batch, Loss};
use heft::{AdapterChoice, Gpu, Tensor};
use std::sync::Mutex;

/// The tests count the GPU's dispatches: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A small SqueezeNet 1.1 student (batch norms, fire modules, 26 quadratic activations) and
/// its teacher, the same for every call.
fn student() -> (Model, Model) {
    let cfg = ModelConfig { width: 0.125, batchnorm: true, ..ModelConfig::new(Arch::Squeezenet11, vec!["a".into(), "b".into()], 1, 32) };
    let teacher = Model::teacher(&gpu(), cfg, 3).unwrap();
    let student = to_student(&teacher, &StudentConfig::default()).unwrap();
    (teacher, student)
}

fn trainer() -> Trainer {
    let mut t = Trainer::adam(heft::ops::optim::AdamCfg { lr: 1e-3, weight_decay: 5e-4, ..Default::default() });
    t.coef_lr = Some(2e-4);
    t.clip = Clip::Value(1.0);
    t
}

fn bits(m: &Model) -> Vec<(String, Vec<u32>)> {
    m.params().into_iter().map(|p| (p.name.clone(), p.value.to_f32().unwrap().iter().map(|v| v.to_bits()).collect())).collect()
}

struct Data {
    x: Tensor,
    labels: Tensor,
    weights: Tensor,
}

impl Data {
    fn batch(&self) -> Batch<'_> {
        Batch { x: &self.x, labels: &self.labels, weights: &self.weights }
    }
}

/// The paper's distillation loss (alpha 0.1, T 10), no range penalty.
fn kd() -> Loss {
    Loss { kd_alpha: 0.1, kd_t: 10.0, range_weight: 0.0, range_r: 0.0 }
}

fn data() -> Data {
    let gpu = gpu();
    let mut rng = Rng::new(7);
    let n = 4;
    Data {
        x: upload(&rng.vec(n * 32 * 32), &[n, 1, 32, 32]),
        labels: cross_entropy::labels(&gpu, &[0, 1, 1, 0], 2).unwrap(),
        weights: full(&gpu, &[2], 1.0).unwrap(),
    }
}

/// `steps` distillation steps; before step `k`, `freeze(model, k)` may freeze parameters.
/// Returns the dispatches of the last step's update.
fn train(model: &mut Model, teacher: &Model, trainer: &mut Trainer, d: &Data, steps: usize, freeze: &dyn Fn(&mut Model, usize)) -> u64 {
    let mut update = 0;
    for k in 0..steps {
        freeze(model, k);
        let copies = gpu().copies();
        let s = forward_backward(model, Some(teacher), &d.batch(), &kd(), k as u32, false).unwrap();
        assert_eq!(gpu().copies(), copies, "the step copied tensors (a gradient not written into its slot?)");
        for p in model.params() {
            if let (Some(slot), Some(g)) = (&p.slot, s.grads.get(&p.id)) {
                assert!(g.same_view(slot), "{}: the gradient is not in its slot", p.name);
            }
        }
        let before = gpu().dispatches();
        trainer.step(&model.params(), &s.grads).unwrap();
        update = gpu().dispatches() - before;
    }
    update
}

#[test]
fn packed_updates_equal_updates_one_by_one_in_far_fewer_dispatches() {
    let _one = serial();
    let d = data();
    let (teacher, mut one_by_one) = student();
    let (_, mut packed) = student();
    assert_eq!(bits(&one_by_one), bits(&packed), "the two students must start equal");
    let params = packed.params().len();
    let (mut t1, mut t2) = (trainer(), trainer());
    t2.adopt(&mut packed).unwrap();
    assert!(packed.params().iter().all(|p| p.slot.is_some()), "every parameter of a small model is packed");
    let none = |_: &mut Model, _: usize| {};
    let d1 = train(&mut one_by_one, &teacher, &mut t1, &d, 3, &none);
    let d2 = train(&mut packed, &teacher, &mut t2, &d, 3, &none);
    assert_eq!(bits(&one_by_one), bits(&packed), "packed Adam moved the parameters differently");
    assert_eq!(d1, params as u64, "one Adam dispatch per parameter without packing");
    // weights, biases and batch norms in one run, the activation coefficients (own rate) in another
    assert_eq!(d2, 2, "packed Adam: one dispatch per learning rate");
}

#[test]
fn parameters_that_step_differently_split_the_runs_and_still_match() {
    let _one = serial();
    let d = data();
    let (teacher, mut one_by_one) = student();
    let (_, mut packed) = student();
    let (mut t1, mut t2) = (trainer(), trainer());
    t2.adopt(&mut packed).unwrap();
    // the 3rd activation's coefficients start training at step 2 (their own step count after),
    // the 5th's are frozen throughout: both split the coefficients' run
    let freeze = |m: &mut Model, k: usize| {
        for (i, a) in m.activations_mut().into_iter().enumerate() {
            if let Some(c) = a.coef.as_mut() {
                c.frozen = (i == 2 && k < 2) || i == 4;
            }
        }
    };
    let d1 = train(&mut one_by_one, &teacher, &mut t1, &d, 4, &freeze);
    let d2 = train(&mut packed, &teacher, &mut t2, &d, 4, &freeze);
    assert_eq!(bits(&one_by_one), bits(&packed), "packed Adam with split runs moved the parameters differently");
    assert!(d2 > 2 && d2 < d1 / 4, "{d2} packed dispatches against {d1}: runs must split, and only there");
}

#[test]
fn state_restored_into_the_arenas_replays_the_same_steps() {
    let _one = serial();
    let d = data();
    let (teacher, mut m) = student();
    let mut t = trainer();
    t.adopt(&mut m).unwrap();
    let none = |_: &mut Model, _: usize| {};
    train(&mut m, &teacher, &mut t, &d, 2, &none);
    let (saved_params, saved_opt) = (m.params().iter().map(|p| p.value.deep_clone().unwrap()).collect::<Vec<_>>(), t.save_state().unwrap());
    train(&mut m, &teacher, &mut t, &d, 2, &none);
    let after = bits(&m);
    for (p, s) in m.params().iter().zip(&saved_params) {
        p.value.copy_from(s).unwrap();
    }
    t.restore_state(&saved_opt).unwrap();
    train(&mut m, &teacher, &mut t, &d, 2, &none);
    assert_eq!(bits(&m), after, "steps after a restore differ from the first time");
}

#[test]
fn parameters_over_one_binding_keep_their_own_buffer_and_step_alike() {
    let _one = serial();
    // bindings capped at 32 MiB: the 4096 x 4096 weight of AlexNet x0.5's second hidden layer
    // (67 MB) cannot be packed, the other 15 parameters can
    let gpu = Gpu::new(&AdapterChoice { max_binding: Some(32 << 20), ..Default::default() }).expect("tests need a GPU adapter");
    let cfg = ModelConfig { width: 0.5, hidden: 4096, ..ModelConfig::new(Arch::Alexnet, vec!["a".into(), "b".into()], 1, 64) };
    let (one_by_one, mut packed) = (Model::teacher(&gpu, cfg.clone(), 5).unwrap(), Model::teacher(&gpu, cfg, 5).unwrap());
    let (mut t1, mut t2) = (trainer(), trainer());
    t2.adopt(&mut packed).unwrap();
    let big: Vec<String> = packed.params().iter().filter(|p| p.value.bytes() > gpu.max_binding()).map(|p| p.name.clone()).collect();
    assert_eq!(big, ["classifier.4.weight"]);
    for p in packed.params() {
        assert_eq!(p.slot.is_none(), big.contains(&p.name), "{}: only parameters over one binding stay unpacked", p.name);
    }
    let mut rng = Rng::new(9);
    let x = Tensor::from_f32(&gpu, &rng.vec(2 * 64 * 64).iter().map(|&v| v as f32).collect::<Vec<_>>(), &[2, 1, 64, 64]).unwrap();
    let labels = cross_entropy::labels(&gpu, &[0, 1], 2).unwrap();
    let weights = full(&gpu, &[2], 1.0).unwrap();
    for (m, t) in [(&one_by_one, &mut t1), (&packed, &mut t2)] {
        for k in 0..2 {
            let s = forward_backward(m, None, &Batch { x: &x, labels: &labels, weights: &weights }, &Loss::cross_entropy(), k, false).unwrap();
            t.step(&m.params(), &s.grads).unwrap();
        }
    }
    assert_eq!(bits(&one_by_one), bits(&packed), "packed and unpacked parameters together moved differently");
}

#[test]
fn a_parameter_replaced_after_packing_is_refused() {
    let _one = serial();
    let d = data();
    let (teacher, mut m) = student();
    let mut t = trainer();
    t.adopt(&mut m).unwrap();
    assert!(t.adopt(&mut m).is_err(), "a second adopt must be refused");
    let p = &mut m.params_mut()[0];
    p.value = p.value.deep_clone().unwrap();
    let name = p.name.clone();
    let s = forward_backward(&m, Some(&teacher), &d.batch(), &kd(), 0, false).unwrap();
    let err = t.step(&m.params(), &s.grads).unwrap_err().to_string();
    assert!(err.contains(&name) && err.contains("replaced"), "{err}");
}

#[test]
fn params_mut_lists_what_params_lists() {
    let (_, mut m) = student();
    let ids: Vec<u64> = m.params().iter().map(|p| p.id).collect();
    let ids_mut: Vec<u64> = m.params_mut().iter().map(|p| p.id).collect();
    assert_eq!(ids, ids_mut);
}
