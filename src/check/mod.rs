//! Fidelity checks (`heft check`): heft's kernels and whole models against PyTorch golden files
//! (`data/reference/`, made by `tools/reference/make_golden.py`), and against the CPU reference
//! on fresh random shapes. Each comparison is a `Row` with its errors and tolerance. `curve`:
//! whole training curves against PyTorch's (`heft parity`).

mod compare;
pub mod curve;
mod dump;
mod golden;
mod kernels;
mod model;
mod random;

pub use compare::{compare, failures, first_failure, Row};
pub use golden::Golden;
pub use kernels::kernels;
pub use model::model;
pub use random::random;

use crate::error::Result;
use crate::Gpu;

/// The golden files shipped with heft, compiled into the binary: the kernel cases, then one
/// whole model per file (any name other than `kernels`).
pub const GOLDEN: &[(&str, &[u8])] = &[
    ("kernels", include_bytes!("../../data/reference/kernels.safetensors")),
    ("alexnet_teacher", include_bytes!("../../data/reference/alexnet_teacher.safetensors")),
    ("alexnet_student", include_bytes!("../../data/reference/alexnet_student.safetensors")),
    ("squeezenet1_1_teacher", include_bytes!("../../data/reference/squeezenet1_1_teacher.safetensors")),
    ("squeezenet1_1_student", include_bytes!("../../data/reference/squeezenet1_1_student.safetensors")),
    ("squeezenet1_1_teacher_weighted", include_bytes!("../../data/reference/squeezenet1_1_teacher_weighted.safetensors")),
    ("squeezenet1_1_teacher_bn", include_bytes!("../../data/reference/squeezenet1_1_teacher_bn.safetensors")),
    ("resnet20_teacher", include_bytes!("../../data/reference/resnet20_teacher.safetensors")),
    ("resnet20_student", include_bytes!("../../data/reference/resnet20_student.safetensors")),
];

/// Every golden file shipped with heft.
pub fn golden(gpu: &Gpu) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (name, bytes) in GOLDEN {
        let g = Golden::parse(name, bytes)?;
        rows.extend(if *name == "kernels" { kernels(gpu, &g)? } else { model(gpu, name, &g)? });
    }
    Ok(rows)
}
