//! Every WGSL file in shaders/ parses and validates with naga (a broken shader fails CI even if
//! no test dispatches it), every file on disk is compiled into the binary, every shader's
//! `struct Params` has the members, offsets and size of its Rust twin, and the prelude's 1-D
//! workgroup size is Rust's.

use heft::gpu::layout::mismatches;
use heft::gpu::shaders;

#[test]
fn every_shader_validates_with_naga() {
    let mut failures = Vec::new();
    for (name, _) in heft::gpu::SHADERS {
        if let Err(e) = shaders::source(name, &[]).and_then(|src| shaders::parse(name, &src)) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shader_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .map(|n| n.trim_end_matches(".wgsl").to_string())
        .collect();
    on_disk.sort();
    // the prelude (part of every kernel) and the GEMM variants' common part are not kernels
    let mut expected: Vec<String> = heft::gpu::SHADERS.iter().map(|(n, _)| n.to_string()).collect();
    for shared in ["prelude", "matmul_common", "gemm_strided_common"] {
        assert!(!expected.iter().any(|n| n == shared), "{shared} is registered as a kernel");
        expected.push(shared.into());
    }
    expected.sort();
    assert_eq!(on_disk, expected);
}

/// Each shader's `struct Params` (as naga lays it out) and its Rust `Params` in `ops` have the
/// same members (names and types) at the same byte offsets, and the same size, for every
/// shader: a swap of two members of one type keeps the size but fails here.
#[test]
fn every_shader_params_matches_its_rust_struct_member_by_member() {
    let mut failures = Vec::new();
    for (name, _) in heft::gpu::SHADERS {
        let Some((_, rust)) = heft::ops::PARAMS.iter().find(|(n, _)| n == name) else {
            failures.push(format!("{name}: missing from heft::ops::PARAMS"));
            continue;
        };
        let (module, _) = shaders::parse(name, &shaders::source(name, &[]).unwrap()).unwrap();
        let Some(wgsl) = shaders::params_layout(&module) else {
            failures.push(format!("{name}: the shader has no `var<uniform> p: Params`"));
            continue;
        };
        let diff = mismatches(&wgsl, &rust());
        failures.extend(diff.into_iter().map(|d| format!("{name}: {d}")));
    }
    for (name, _) in heft::ops::PARAMS {
        if !heft::gpu::SHADERS.iter().any(|(n, _)| n == name) {
            failures.push(format!("{name}: in heft::ops::PARAMS but not a shader"));
        }
    }
    assert!(failures.is_empty(), "shader and Rust Params differ (make both declare the same members in the same order):\n{}", failures.join("\n"));
}

/// `WG` of shaders/prelude.wgsl, evaluated by naga, is `WORKGROUP_1D`, which `ops::grid_1d`
/// divides by.
#[test]
fn prelude_workgroup_size_is_rusts() {
    let module = naga::front::wgsl::parse_str(shaders::PRELUDE).unwrap();
    let (_, wg) = module.constants.iter().find(|(_, c)| c.name.as_deref() == Some("WG")).expect("prelude defines WG");
    let value = match module.global_expressions[wg.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => v,
        ref e => panic!("WG is not a u32 literal: {e:?}"),
    };
    assert_eq!(value, shaders::WORKGROUP_1D);
}

/// The prelude comes after a shader's own lines, so naga's line numbers are the shader file's.
#[test]
fn naga_errors_point_at_the_shader_files_lines() {
    let src = format!("// line 1\nfn broken( {{\n\n{}", shaders::PRELUDE);
    let e = shaders::parse("relu", &src).unwrap_err().to_string();
    assert!(e.contains("shaders/relu.wgsl:2:"), "{e}");
    assert!(e.contains("lines after 3 are shaders/prelude.wgsl"), "{e}");
    // a GEMM variant gets the GEMM's common part too, before the prelude
    let src = format!("// line 1\nfn broken( {{\n\n{}\n{}", shaders::MATMUL_COMMON, shaders::PRELUDE);
    let e = shaders::parse("matmul_splitk", &src).unwrap_err().to_string();
    assert!(e.contains("shaders/matmul_splitk.wgsl:2:"), "{e}");
    assert!(e.contains("lines after 3 are shaders/matmul_common.wgsl, shaders/prelude.wgsl"), "{e}");
}
