// matmul_subgroup.wgsl — GEMM variant (same contract as matmul.wgsl): C[m, n] = sum_k A[m, k] * B[n, k].
// As matmul_splitk.wgsl (a workgroup of LANES invocations per 8x8 tile of C, K split across
// them so that neighbouring invocations read neighbouring vec4s), but the partial tiles are
// added with subgroupAdd instead of workgroup memory and a barrier. Needs the SUBGROUP feature
// and subgroups of at least LANES invocations, so that the workgroup is one subgroup (the
// adapter's subgroup_min_size is checked before it is chosen). The subgroup sum's order is
// fixed by the hardware: same adapter, same numbers. Shapes, parameters, bindings and the
// epilogue: matmul_common.wgsl (appended). Grid: x = ceil(N/8), y = ceil(M/8); workgroup LANES.

const LANES: u32 = 8u;

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    let m0 = wid.y * 8u;
    let n0 = wid.x * 8u;
    let acc = partial_tile(m0, n0, l, LANES);
    var tile: array<vec4<f32>, 16>;
    for (var q = 0u; q < 16u; q++) {
        tile[q] = subgroupAdd(acc[q]);
    }
    // invocation l finishes outputs l, l + LANES, ... of the tile (row o / 8, column o % 8)
    for (var o = l; o < 64u; o += LANES) {
        if (m0 + o / 8u < p.m && n0 + o % 8u < p.n) {
            store(m0 + o / 8u, n0 + o % 8u, tile[o / 4u][o % 4u]);
        }
    }
}
