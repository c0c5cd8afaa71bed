//! The WGSL kernels compiled into the binary (one file per kernel family under `shaders/`),
//! plus naga parsing/validation and per-entry-point binding reflection.

use crate::error::{Error, Result};

macro_rules! shaders {
    ($($name:literal),* $(,)?) => {
        /// `(name, source)` of every kernel file in `shaders/`.
        pub const SHADERS: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../shaders/", $name, ".wgsl")))),*
        ];
    };
}

shaders!(
    "matmul", "pack", "im2col", "col2im", "reduce", "elementwise", "relu", "quad", "maxpool", "avgpool",
    "batchnorm", "dropout", "concat", "cross_entropy", "distill", "optim", "range",
);

/// Parse and validate a WGSL source with naga; errors carry naga's annotated report.
pub fn parse(name: &str, src: &str) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let module = naga::front::wgsl::parse_str(src)
        .map_err(|e| Error::Invalid(format!("shaders/{name}.wgsl: {}", e.emit_to_string(src))))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .map_err(|e| Error::Invalid(format!("shaders/{name}.wgsl: {}", e.emit_to_string(src))))?;
    Ok((module, info))
}

/// Bindings of group 0 that `entry` uses (binding 0 is the uniform parameter block).
pub fn used_bindings(module: &naga::Module, info: &naga::valid::ModuleInfo, entry: &str) -> Option<Vec<u32>> {
    let idx = module.entry_points.iter().position(|e| e.name == entry)?;
    let fi = info.get_entry_point(idx);
    let mut out: Vec<u32> = module
        .global_variables
        .iter()
        .filter(|(h, g)| g.binding.is_some() && !fi[*h].is_empty())
        .filter_map(|(_, g)| g.binding.as_ref().map(|b| b.binding))
        .collect();
    out.sort_unstable();
    Some(out)
}
