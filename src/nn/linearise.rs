//! Linearised activations (depth-aware students): an activation whose x² coefficient is 0 for
//! good (`ActKind::Affine`, trainable c0 + c1·x) costs no CKKS level, since it folds into the
//! linear layer before it. `linearise` turns chosen activations of a trained student affine
//! (c2 dropped, c0 and c1 kept) and records them in its config, so a saved checkpoint rebuilds
//! them as such.

use super::layers::ActKind;
use super::model::Model;
use crate::error::{Error, Result};

/// Refuse names in `linear` that are not activations of `model`.
pub fn check_names(model: &Model, linear: &[String]) -> Result<()> {
    let names: Vec<&str> = model.activations().iter().map(|a| a.name.as_str()).collect();
    match linear.iter().find(|n| !names.contains(&n.as_str())) {
        Some(n) => Err(Error::Invalid(format!("{n} is not an activation of this model; its activations are {}", names.join(", ")))),
        None => Ok(()),
    }
}

/// Make the activations `names` of the student `model` affine: c2 set to 0 and kept there,
/// c0 and c1 as they are. Its config lists every linearised activation, in execution order.
pub fn linearise(model: &mut Model, names: &[String]) -> Result<()> {
    check_names(model, names)?;
    let Some(student) = model.config.student.clone() else {
        return Err(Error::Invalid("only a student's activations can be linearised (a teacher's are ReLUs)".into()));
    };
    for a in model.activations_mut() {
        if !names.contains(&a.name) || a.kind == ActKind::Affine {
            continue;
        }
        let Some(coef) = a.coef.as_mut() else { continue };
        let c = coef.value.to_f32()?;
        // in place: the optimiser may hold the tensor in its parameter arena
        coef.value.write_f32(&[c[0], c[1], 0.0])?;
        coef.frozen = false;
        a.kind = ActKind::Affine;
    }
    let linear = model.activations().iter().filter(|a| a.kind == ActKind::Affine).map(|a| a.name.clone()).collect();
    model.config.student = Some(super::model::StudentConfig { linear, ..student });
    Ok(())
}
