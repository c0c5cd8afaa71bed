// matmul_subgroup.wgsl — GEMM variant ("NT" form, same contract as matmul.wgsl):
// C[m, n] = sum_k A[m, k] * B[n, k]. As matmul_splitk.wgsl (a workgroup of LANES invocations
// per 8x8 tile of C, K split across them so that neighbouring invocations read neighbouring
// vec4s), but the partial tiles are added with subgroupAdd instead of workgroup memory and a
// barrier. Needs the SUBGROUP feature and subgroups of at least LANES invocations, so that the
// workgroup is one subgroup (the adapter's subgroup_min_size is checked before it is chosen).
// The subgroup sum's order is fixed by the hardware: same adapter, same numbers.
//
// Shapes:  A  [M, K4] vec4   (K = 4*K4, zero-padded by the caller)
//          B  [N, K4] vec4
//          bias [M] (bias_mode 1) or [N] (bias_mode 2); unused otherwise
//          C  written at  base + m*sm + (n / g)*sg + (n % g)*sn; accumulate != 0 adds to C
// Grid: x = ceil(N/8), y = ceil(M/8); workgroup LANES.

struct Params {
    M: u32, N: u32, K4: u32,
    sm: u32, g: u32, sg: u32, sn: u32, base: u32,
    bias_mode: u32, accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const LANES: u32 = 8u;

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    let m0 = wid.y * 8u;
    let n0 = wid.x * 8u;
    // Rows past the edge are clamped to the last valid row; their results are never stored.
    var ar: array<u32, 8>;
    var br: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        ar[i] = min(m0 + i, p.M - 1u) * p.K4;
        br[i] = min(n0 + i, p.N - 1u) * p.K4;
    }
    var acc: array<vec4<f32>, 16>;
    for (var k = l; k < p.K4; k += LANES) {
        let b0 = b[br[0] + k];
        let b1 = b[br[1] + k];
        let b2 = b[br[2] + k];
        let b3 = b[br[3] + k];
        let b4 = b[br[4] + k];
        let b5 = b[br[5] + k];
        let b6 = b[br[6] + k];
        let b7 = b[br[7] + k];
        for (var i = 0u; i < 8u; i++) {
            let av = a[ar[i] + k];
            acc[2u * i] += vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
            acc[2u * i + 1u] += vec4<f32>(dot(av, b4), dot(av, b5), dot(av, b6), dot(av, b7));
        }
    }
    var tile: array<vec4<f32>, 16>;
    for (var q = 0u; q < 16u; q++) {
        tile[q] = subgroupAdd(acc[q]);
    }
    // invocation l finishes outputs l, l + LANES, ... of the tile (row o / 8, column o % 8)
    for (var o = l; o < 64u; o += LANES) {
        let m = m0 + o / 8u;
        let n = n0 + o % 8u;
        if (m < p.M && n < p.N) {
            var v = tile[o / 4u][o % 4u];
            if (p.bias_mode == 1u) {
                v += bias[m];
            } else if (p.bias_mode == 2u) {
                v += bias[n];
            }
            let idx = p.base + m * p.sm + (n / p.g) * p.sg + (n % p.g) * p.sn;
            if (p.accumulate != 0u) {
                v += c[idx];
            }
            c[idx] = v;
        }
    }
}
