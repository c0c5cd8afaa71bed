//! The WGSL kernels compiled into the binary (one file per kernel family under `shaders/`) and
//! the prelude they share, plus naga parsing/validation and reflection of each entry point's
//! bound globals and parameter block.

use super::layout::{Layout, Member};
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
    "matmul_subgroup", "matmul_tiled", "matmul_bcast", "confusion", "conv2d_direct", "gemm_strided",
    "gemm_strided_bcast",
);

/// Kernels compiled without wgpu's runtime checks (bounds, loop bounding, division guards;
/// they cost 20–50 % on fast kernels) unless `AdapterChoice::shader_checks` or
/// `HEFT_SHADER_CHECKS=1` asks for them. Only kernels whose wrapper bounds every index the
/// shader forms before dispatching (the GEMMs: rows clamped to M-1/N-1 of operands checked to
/// hold them, the output map's and the strides' largest index checked against C and the
/// operands, bias lengths checked), whose divisors are non-zero (the map's group g >= 1) and
/// whose loops are counted; `heft check` and the kernel tests pass both ways.
pub const TRUSTED: &[&str] = &["matmul", "matmul_splitk", "matmul_subgroup", "matmul_tiled", "matmul_bcast", "gemm_strided",
    "gemm_strided_bcast"];

/// `shaders/prelude.wgsl`: the workgroup size of 1-D kernels, their index helper and `udiv`
/// (integer division without a scalarised divide). `source`
/// appends it after each shader's own text (WGSL declarations may come in any order), so
/// naga's line numbers still match the shader file.
pub const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");

/// `shaders/matmul_common.wgsl`: the parameter block, bindings, partial tile and epilogue that
/// every GEMM variant (`matmul*`) shares; appended to their sources before the prelude.
pub const MATMUL_COMMON: &str = include_str!("../../shaders/matmul_common.wgsl");

/// `shaders/gemm_strided_common.wgsl`: the parameter block, bindings and epilogue of both forms
/// of the strided GEMM (`gemm_strided*`); appended to their sources before the prelude.
pub const GEMM_STRIDED_COMMON: &str = include_str!("../../shaders/gemm_strided_common.wgsl");

/// The files appended after shader `name`'s own lines, in order, as (file name, text).
pub fn appended(name: &str) -> &'static [(&'static str, &'static str)] {
    if name.starts_with("matmul") {
        &[("matmul_common", MATMUL_COMMON), ("prelude", PRELUDE)]
    } else if name.starts_with("gemm_strided") {
        &[("gemm_strided_common", GEMM_STRIDED_COMMON), ("prelude", PRELUDE)]
    } else {
        &[("prelude", PRELUDE)]
    }
}

/// Threads a workgroup of the 1-D kernels: the prelude's `WG` (tests/shaders.rs checks they agree).
pub const WORKGROUP_1D: u32 = 256;

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

/// What is compiled for `name` specialised by `spec`: the shader's text with its constants set,
/// then the files `appended` to it.
pub fn source(name: &str, spec: Spec) -> Result<String> {
    let src = SHADERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::Invalid(format!("unknown shader {name}")))?;
    let mut out = specialise(name, src, spec)?;
    for (_, text) in appended(name) {
        out.push('\n');
        out.push_str(text);
    }
    Ok(out)
}

/// Parse and validate a `source` with naga; errors carry naga's annotated report. Subgroup
/// operations are allowed here; the device refuses them where the adapter lacks SUBGROUP, and
/// the kernels that use them are only chosen where it has it.
pub fn parse(name: &str, src: &str) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let path = format!("shaders/{name}.wgsl");
    // lines past the shader's own (and the blank line after it) are the appended files
    let tail: usize = appended(name).iter().map(|(_, t)| t.len() + 1).sum();
    let own = src.get(..(src.len() + 1).saturating_sub(tail)).unwrap_or(src);
    let lines = own.lines().count();
    let files: Vec<String> = appended(name).iter().map(|(f, _)| format!("shaders/{f}.wgsl")).collect();
    let report = |text: String| Error::Invalid(format!("{path} (lines after {lines} are {}): {text}", files.join(", ")));
    let module = naga::front::wgsl::parse_str(src).map_err(|e| report(e.emit_to_string_with_path(src, &path)))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::SUBGROUP)
        .validate(&module)
        .map_err(|e| report(e.emit_to_string_with_path(src, &path)))?;
    Ok((module, info))
}

/// The parameter block (the shader's one uniform, `var<uniform> p: Params`) as naga lays it
/// out; `None` when the shader has none.
pub fn params_layout(module: &naga::Module) -> Option<Layout> {
    let (_, g) = module.global_variables.iter().find(|(_, g)| g.space == naga::AddressSpace::Uniform)?;
    let ty = &module.types[g.ty].inner;
    let naga::TypeInner::Struct { members, .. } = ty else { return None };
    let members = members
        .iter()
        .map(|m| Member { name: m.name.clone().unwrap_or_default(), ty: wgsl_type(&module.types[m.ty].inner), offset: m.offset as usize })
        .collect();
    Some(Layout { members, size: ty.size(module.to_ctx()) as usize })
}

/// WGSL name of a parameter's type; the blocks hold only 32-bit scalars.
fn wgsl_type(ty: &naga::TypeInner) -> &'static str {
    use naga::ScalarKind::{Float, Sint, Uint};
    match ty {
        naga::TypeInner::Scalar(naga::Scalar { kind: Uint, width: 4 }) => "u32",
        naga::TypeInner::Scalar(naga::Scalar { kind: Sint, width: 4 }) => "i32",
        naga::TypeInner::Scalar(naga::Scalar { kind: Float, width: 4 }) => "f32",
        _ => "a type other than u32, i32 or f32",
    }
}

/// A global of group 0 bound by a dispatch: the parameter block or a storage buffer.
pub struct Global {
    /// Its WGSL name (`p`, `x`, `out`), by which Rust binds it.
    pub name: String,
    pub binding: u32,
    /// Whether it is the uniform parameter block.
    pub uniform: bool,
    /// Whether the entry point uses it.
    pub used: bool,
}

/// The bound globals of a shader, and which of them `entry` uses; `None` when there is no such
/// entry point.
pub fn globals(module: &naga::Module, info: &naga::valid::ModuleInfo, entry: &str) -> Option<Vec<Global>> {
    let idx = module.entry_points.iter().position(|e| e.name == entry)?;
    let fi = info.get_entry_point(idx);
    let globals = module.global_variables.iter().filter_map(|(h, g)| {
        Some(Global {
            name: g.name.clone()?,
            binding: g.binding.as_ref()?.binding,
            uniform: g.space == naga::AddressSpace::Uniform,
            used: !fi[h].is_empty(),
        })
    });
    Some(globals.collect())
}
