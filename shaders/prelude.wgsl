// Shared by every kernel: the gpu layer appends this file to each shader's source before naga
// parses it (after the shader's own lines, so naga's line numbers match shaders/<name>.wgsl).
// Not a kernel itself. Rust reads WG from here too (gpu::shaders::WORKGROUP_1D, checked by
// tests/shaders.rs).

// Threads a workgroup of the 1-D kernels (one thread per element, grid split over x/y).
const WG: u32 = 256u;

// Flat index of a thread of a 1-D kernel whose grid of workgroups is split over x and y.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.y * nwg.x * WG + gid.x;
}
