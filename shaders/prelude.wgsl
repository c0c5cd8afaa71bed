// Shared by every kernel: the gpu layer appends this file to each shader's source before naga
// parses it (after the shader's own lines, so naga's line numbers match shaders/<name>.wgsl).
// Not a kernel itself. Rust reads WG from here too (gpu::shaders::WORKGROUP_1D, checked by
// tests/shaders.rs).

// Threads a workgroup of the 1-D kernels (one thread per element, or per run or vec4 of elements
// where a kernel says so; grid split over x/y).
const WG: u32 = 256u;

// Flat index of a thread of a 1-D kernel whose grid of workgroups is split over x and y.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.y * nwg.x * WG + gid.x;
}

// n / d for n < 2^31 without an integer division (scalarised, and slow, on SIMD CPUs such as
// llvmpipe): an f32 estimate, refined once on the remainder, then corrected by one. WGSL's f32
// division is accurate to 2.5 ULP, so the first estimate is within (n/d)*2^-21 + 1 of n/d, the
// remainder fits an i32, and the refined estimate is within one.
fn udiv(n: u32, d: u32) -> u32 {
    let rd = 1.0 / f32(d);
    var q = u32(f32(n) * rd);
    let r = i32(n) - i32(q * d);
    q = u32(i32(q) + i32(floor(f32(r) * rd)));
    if (q * d > n) {
        q -= 1u;
    } else if ((q + 1u) * d <= n) {
        q += 1u;
    }
    return q;
}

// n % d for n < 2^31, through `udiv`.
fn umod(n: u32, d: u32) -> u32 {
    return n - udiv(n, d) * d;
}
