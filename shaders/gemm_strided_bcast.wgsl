// gemm_strided_bcast.wgsl — the strided GEMM of gemm_strided.wgsl (same contract) for CPU
// drivers with subgroups: on llvmpipe a load from a storage buffer costs a loop over the SIMD
// lanes, while moving a value between lanes is one register operation, so each lane loads few
// operands and the subgroup shares them (as matmul_bcast.wgsl). A workgroup is one subgroup of
// 8 invocations and computes a block of 8R rows by 8C columns: lane s loads A rows
// m0 + s + 8i (i < R) and B columns n0 + s + 8c (c < C), one value of each per step along K,
// takes the other lanes' B values with subgroupBroadcast, and computes its R rows by all 8C
// columns. Needs the SUBGROUP feature and subgroups of at least 8 (checked before it is
// chosen); the lanes are taken to be numbered 0..7 within it, as on llvmpipe (elsewhere a wrong
// numbering would give wrong sums, never an access out of bounds). R and C are set per pipeline
// by the wrapper. The product, the strides, parameters, bindings and the epilogue:
// gemm_strided_common.wgsl (appended by the gpu layer).
// Grid: x = ceil(N/(8C)), y = ceil(M/(8R)); workgroup 8.

const R: u32 = 4u;
const C: u32 = 2u;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) s: u32) {
    let m0 = wid.y * 8u * R;
    let n0 = wid.x * 8u * C;
    // rows and columns past the edge read the last valid one; their results are never stored
    var ar: array<u32, R>;
    var bc: array<u32, C>;
    for (var i = 0u; i < R; i++) {
        ar[i] = min(m0 + s + 8u * i, p.m - 1u) * p.sam;
    }
    for (var c = 0u; c < C; c++) {
        bc[c] = b_column(min(n0 + s + 8u * c, p.n - 1u));
    }
    // acc[i][2c] holds columns n0 + 8c + 0..3 of row m0 + s + 8i, acc[i][2c + 1] columns 4..7
    var acc: array<array<vec4<f32>, 2u * C>, R>;
    for (var r = 0u; r < p.r; r++) {
        var ao = r * p.sar;
        var bo = r * p.sbr;
        for (var k = 0u; k < p.k; k++) {
            var av: array<f32, R>;
            for (var i = 0u; i < R; i++) {
                av[i] = a[ar[i] + ao];
            }
            for (var c = 0u; c < C; c++) {
                let bv = b[bc[c] + bo];
                let lo = vec4<f32>(subgroupBroadcast(bv, 0u), subgroupBroadcast(bv, 1u), subgroupBroadcast(bv, 2u), subgroupBroadcast(bv, 3u));
                let hi = vec4<f32>(subgroupBroadcast(bv, 4u), subgroupBroadcast(bv, 5u), subgroupBroadcast(bv, 6u), subgroupBroadcast(bv, 7u));
                for (var i = 0u; i < R; i++) {
                    acc[i][2u * c] += av[i] * lo;
                    acc[i][2u * c + 1u] += av[i] * hi;
                }
            }
            ao += p.sak;
            bo += p.sbk;
        }
    }
    for (var i = 0u; i < R; i++) {
        let m = m0 + s + 8u * i;
        for (var j = 0u; j < 8u * C && m < p.m && n0 + j < p.n; j++) {
            store(m, n0 + j, acc[i][j / 4u][j % 4u]);
        }
    }
}
