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
    "batchnorm", "dropout", "concat", "cross_entropy", "distill", "optim", "range", "matmul_splitk",
    "matmul_subgroup", "matmul_tiled",
);

/// Compile-time values of a kernel that are set per pipeline (tile sizes): each
/// `(NAME, value)` replaces the value of the shader's `const NAME: u32 = ...;` line.
pub type Spec = &'static [(&'static str, u32)];

/// `src` with each constant of `spec` set; fails if the shader has no such `const` line.
pub fn specialise(name: &str, src: &str, spec: Spec) -> Result<String> {
    let mut out = src.to_string();
    for (konst, value) in spec {
        let head = format!("const {konst}: u32 = ");
        let start = out.find(&head).ok_or_else(|| Error::Invalid(format!("shaders/{name}.wgsl has no `{head}...;` to specialise")))?;
        let from = start + head.len();
        let end = from + out[from..].find(';').ok_or_else(|| Error::Invalid(format!("shaders/{name}.wgsl: unterminated const {konst}")))?;
        out.replace_range(from..end, &format!("{value}u"));
    }
    Ok(out)
}

/// Parse and validate a WGSL source with naga; errors carry naga's annotated report. Subgroup
/// operations are allowed here; the device refuses them where the adapter lacks SUBGROUP, and
/// the kernels that use them are only chosen where it has it.
pub fn parse(name: &str, src: &str) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let module = naga::front::wgsl::parse_str(src)
        .map_err(|e| Error::Invalid(format!("shaders/{name}.wgsl: {}", e.emit_to_string(src))))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::SUBGROUP)
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
