//! The keys of an experiment file's [base] table and [[run]] tables (one struct for both, so a
//! key means the same in each), and how a run's keys override the base.

use crate::nn::convert::{ScheduleKind, StudentAct};
use crate::nn::model::Arch;
use serde::Deserialize;

/// Where a student's weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// Copied from its teacher (the method).
    Teacher,
    /// Freshly initialised: the same HE-friendly network trained from scratch.
    Scratch,
}

/// Every key of [base] and [[run]]; all optional. Names follow the command-line flags
/// (`--clip-value` is `clip_value`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    // the run itself (not in [base])
    pub name: Option<String>,
    pub student: Option<bool>,
    pub teacher: Option<String>,
    // the network (teachers and from-scratch students)
    pub model: Option<Arch>,
    pub width: Option<f32>,
    pub hidden: Option<usize>,
    pub conv1_pad: Option<usize>,
    pub pretrained: Option<String>,
    // the student
    pub weights: Option<Weights>,
    pub kd: Option<bool>,
    pub act: Option<StudentAct>,
    pub init: Option<[f32; 3]>,
    /// A teacher's (or from-scratch network's) batch norm, `--batchnorm`; a student's, `--no-bn`
    /// when false.
    pub batchnorm: Option<bool>,
    pub schedule: Option<ScheduleKind>,
    pub start: Option<usize>,
    pub every: Option<usize>,
    // the recipe
    pub epochs: Option<usize>,
    pub batch: Option<usize>,
    pub lr: Option<f32>,
    pub weight_decay: Option<f32>,
    pub coef_lr: Option<f32>,
    pub clip_value: Option<f32>,
    pub clip_norm: Option<f32>,
    pub alpha: Option<f32>,
    pub temperature: Option<f32>,
    pub range_weight: Option<f32>,
    pub range: Option<f32>,
    pub augment: Option<bool>,
    pub class_weights: Option<bool>,
    pub max_rollbacks: Option<usize>,
    pub max_range: Option<f32>,
}

/// The first of `keys` whose value is set.
fn first_set(keys: &[(&'static str, bool)]) -> Option<&'static str> {
    keys.iter().find(|(_, set)| *set).map(|(k, _)| *k)
}

impl Settings {
    /// These settings with every key they leave unset taken from `base`.
    pub fn over(&self, base: &Settings) -> Settings {
        let b = base.clone();
        Settings {
            name: self.name.clone(),
            student: self.student,
            teacher: self.teacher.clone(),
            model: self.model.or(b.model),
            width: self.width.or(b.width),
            hidden: self.hidden.or(b.hidden),
            conv1_pad: self.conv1_pad.or(b.conv1_pad),
            pretrained: self.pretrained.clone().or(b.pretrained),
            weights: self.weights.or(b.weights),
            kd: self.kd.or(b.kd),
            act: self.act.or(b.act),
            init: self.init.or(b.init),
            batchnorm: self.batchnorm.or(b.batchnorm),
            schedule: self.schedule.or(b.schedule),
            start: self.start.or(b.start),
            every: self.every.or(b.every),
            epochs: self.epochs.or(b.epochs),
            batch: self.batch.or(b.batch),
            lr: self.lr.or(b.lr),
            weight_decay: self.weight_decay.or(b.weight_decay),
            coef_lr: self.coef_lr.or(b.coef_lr),
            clip_value: self.clip_value.or(b.clip_value),
            clip_norm: self.clip_norm.or(b.clip_norm),
            alpha: self.alpha.or(b.alpha),
            temperature: self.temperature.or(b.temperature),
            range_weight: self.range_weight.or(b.range_weight),
            range: self.range.or(b.range),
            augment: self.augment.or(b.augment),
            class_weights: self.class_weights.or(b.class_weights),
            max_rollbacks: self.max_rollbacks.or(b.max_rollbacks),
            max_range: self.max_range.or(b.max_range),
        }
    }

    /// A key that only a [[run]] may set, if set.
    pub fn run_only_key(&self) -> Option<&'static str> {
        first_set(&[("name", self.name.is_some()), ("student", self.student.is_some()), ("teacher", self.teacher.is_some())])
    }

    /// A key that only a student may set, if set.
    pub fn student_key(&self) -> Option<&'static str> {
        first_set(&[
            ("teacher", self.teacher.is_some()),
            ("weights", self.weights.is_some()),
            ("kd", self.kd.is_some()),
            ("act", self.act.is_some()),
            ("init", self.init.is_some()),
            ("schedule", self.schedule.is_some()),
            ("start", self.start.is_some()),
            ("every", self.every.is_some()),
        ])
    }

    /// A key that sets the network, if set.
    pub fn model_key(&self) -> Option<&'static str> {
        first_set(&[("model", self.model.is_some()), ("width", self.width.is_some()), ("hidden", self.hidden.is_some()), ("conv1_pad", self.conv1_pad.is_some())])
    }
}
