//! The keys of an experiment file's [base] table and [[run]] tables (one struct for both, so a
//! key means the same in each), and how a run's keys override the base. The recipe's keys are
//! `Recipe`'s fields, declared there with their defaults; they are kept here as the file
//! spells them and read into a `Recipe` once a run's keys are merged over the base.

use crate::nn::convert::{ScheduleKind, StudentAct};
use crate::nn::model::Arch;
use crate::recipe::Recipe;
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
    /// The recipe's keys, and any unknown key (refused when the recipe is read).
    #[serde(flatten)]
    pub recipe: toml::Table,
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
            recipe: b.recipe.into_iter().chain(self.recipe.clone()).collect(),
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

    /// Each recipe key of these settings read alone into a recipe, so that an unknown key or a
    /// value of the wrong type is named: the key and the message.
    pub fn check_recipe_keys(&self) -> std::result::Result<(), (String, String)> {
        for (k, v) in &self.recipe {
            let one = toml::Table::from_iter([(k.clone(), v.clone())]);
            if let Err(e) = Recipe::deserialize(toml::Value::Table(one)) {
                let msg = e.message().trim_end().to_string();
                let msg = if msg.starts_with("unknown field") { "no such key (README.md, \"Experiments\", lists them)".to_string() } else { msg };
                return Err((k.clone(), msg));
            }
        }
        Ok(())
    }
}
