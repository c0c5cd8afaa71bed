//! Every WGSL file in shaders/ parses and validates with naga (a broken shader fails CI even if
//! no test dispatches it), and every file on disk is compiled into the binary.

#[test]
fn every_shader_validates_with_naga() {
    let mut failures = Vec::new();
    for (name, src) in heft::gpu::SHADERS {
        if let Err(e) = heft::gpu::shaders::parse(name, src) {
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
    let mut registered: Vec<String> = heft::gpu::SHADERS.iter().map(|(n, _)| n.to_string()).collect();
    registered.sort();
    assert_eq!(on_disk, registered);
}
