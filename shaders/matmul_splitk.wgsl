// matmul_splitk.wgsl — GEMM variant (same contract as matmul.wgsl): C[m, n] = sum_k A[m, k] * B[n, k].
// Each workgroup of LANES invocations computes one 8x8 tile of C; its invocations split K
// (invocation l takes k4 = l, l + LANES, ...) so that neighbouring invocations read
// neighbouring vec4s of the same rows (contiguous loads across SIMD lanes on CPU drivers),
// then add their partial tiles through workgroup memory in a fixed order (deterministic: no
// atomics). Shapes, parameters, bindings and the epilogue: matmul_common.wgsl (appended).
// Grid: x = ceil(N/8), y = ceil(M/8); workgroup LANES.

const LANES: u32 = 8u;
// partial 8x8 tiles, one per invocation: part[l][8*i + j]
var<workgroup> part: array<array<f32, 64>, LANES>;

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    let m0 = wid.y * 8u;
    let n0 = wid.x * 8u;
    let acc = partial_tile(m0, n0, l, LANES);
    for (var q = 0u; q < 16u; q++) {
        part[l][4u * q] = acc[q].x;
        part[l][4u * q + 1u] = acc[q].y;
        part[l][4u * q + 2u] = acc[q].z;
        part[l][4u * q + 3u] = acc[q].w;
    }
    workgroupBarrier();
    // invocation l finishes outputs l, l + LANES, ... of the tile (row o / 8, column o % 8)
    for (var o = l; o < 64u; o += LANES) {
        if (m0 + o / 8u < p.m && n0 + o % 8u < p.n) {
            var v = 0.0;
            for (var t = 0u; t < LANES; t++) {
                v += part[t][o];
            }
            store(m0 + o / 8u, n0 + o % 8u, v);
        }
    }
}
