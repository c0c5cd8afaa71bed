// matmul_bcast.wgsl — GEMM variant for CPU drivers with subgroups (same contract as
// matmul.wgsl): C[m, n] = sum_k A[m, k] * B[n, k]. On llvmpipe a load from a storage buffer
// costs a loop over the SIMD lanes, while moving a value between lanes is one register
// operation; so each lane loads few operands and the subgroup shares them. A workgroup is one
// subgroup of 8 invocations and computes a block of 8R rows by 8C columns: lane s loads A rows
// m0 + s + 8r (r < R) and B rows n0 + s + 8c (c < C), one vec4 of each per step along K, and
// takes the other lanes' B vec4s with subgroupBroadcast; it computes its R rows by all 8C
// columns. Needs the SUBGROUP feature and subgroups of at least 8 (checked before it is
// chosen); the lanes are taken to be numbered 0..7 within it, as on llvmpipe (elsewhere a wrong
// numbering would give wrong sums, never an access out of bounds). R and C are set per pipeline by specialising the consts below. Shapes, parameters,
// bindings and the epilogue: matmul_common.wgsl (appended by the gpu layer).
// Grid: x = ceil(N/(8C)), y = ceil(M/(8R)); workgroup 8.

const R: u32 = 2u;
const C: u32 = 2u;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) s: u32) {
    let m0 = wid.y * 8u * R;
    let n0 = wid.x * 8u * C;
    // rows past the edge read the last valid row; their results are never stored
    var ao: array<u32, R>;
    var bo: array<u32, C>;
    for (var r = 0u; r < R; r++) {
        ao[r] = min(m0 + s + 8u * r, p.m - 1u) * p.k4;
    }
    for (var c = 0u; c < C; c++) {
        bo[c] = min(n0 + s + 8u * c, p.n - 1u) * p.k4;
    }
    // acc[r][2c] holds columns n0 + 8c + 0..3 of row m0 + s + 8r, acc[r][2c + 1] columns 4..7
    var acc: array<array<vec4<f32>, 2u * C>, R>;
    for (var k = 0u; k < p.k4; k++) {
        var av: array<vec4<f32>, R>;
        for (var r = 0u; r < R; r++) {
            av[r] = a[ao[r] + k];
        }
        for (var c = 0u; c < C; c++) {
            let bv = b[bo[c] + k];
            let b0 = subgroupBroadcast(bv, 0u);
            let b1 = subgroupBroadcast(bv, 1u);
            let b2 = subgroupBroadcast(bv, 2u);
            let b3 = subgroupBroadcast(bv, 3u);
            let b4 = subgroupBroadcast(bv, 4u);
            let b5 = subgroupBroadcast(bv, 5u);
            let b6 = subgroupBroadcast(bv, 6u);
            let b7 = subgroupBroadcast(bv, 7u);
            for (var r = 0u; r < R; r++) {
                let x = av[r];
                acc[r][2u * c] += vec4<f32>(dot(x, b0), dot(x, b1), dot(x, b2), dot(x, b3));
                acc[r][2u * c + 1u] += vec4<f32>(dot(x, b4), dot(x, b5), dot(x, b6), dot(x, b7));
            }
        }
    }
    for (var r = 0u; r < R; r++) {
        let m = m0 + s + 8u * r;
        for (var j = 0u; j < 8u * C && m < p.m && n0 + j < p.n; j++) {
            store(m, n0 + j, acc[r][j / 4u][j % 4u]);
        }
    }
}
