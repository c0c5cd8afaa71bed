// matmul.wgsl — heft's GEMM ("NT" form), register-blocked variant: C[m, n] = sum_k A[m, k] * B[n, k].
// Conv2d (through im2col/col2im) and linear layers, forward and backward, all run through the
// GEMM; `pack` lays operands out as needed. Each thread computes an 8x8 tile of C from vec4
// loads along k, with no workgroup memory (the static choice on CPU drivers without subgroups).
// Shapes, parameters, bindings and the epilogue: matmul_common.wgsl (appended by the gpu layer).
// Grid: x = ceil(N/64), y = ceil(M/64); workgroup 8x8.

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * 8u;
    let n0 = gid.x * 8u;
    if (m0 >= p.m || n0 >= p.n) {
        return;
    }
    let acc = partial_tile(m0, n0, 0u, 1u);
    for (var i = 0u; i < 8u && m0 + i < p.m; i++) {
        for (var j = 0u; j < 8u && n0 + j < p.n; j++) {
            store(m0 + i, n0 + j, acc[2u * i + j / 4u][j % 4u]);
        }
    }
}
