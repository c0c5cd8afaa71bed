// matmul_common.wgsl — what every GEMM variant (matmul.wgsl and matmul_*.wgsl) shares: the
// parameter block, the bindings, the 8x8 partial tile of the register and split-K forms, and
// the epilogue that adds the bias, applies the output map and accumulates. The gpu layer
// appends this file to the source of every shader named matmul*, after the shader's own
// lines. Not a kernel itself.
//
// Shapes:  A  [M, K4] vec4   (K = 4*K4, zero-padded by the caller)
//          B  [N, K4] vec4
//          bias [M] (bias_mode 1) or [N] (bias_mode 2); unused otherwise (bind any buffer)
//          C  written at  base + m*sm + (n / g)*sg + (n % g)*sn
//             (row-major [M, N]: sm=N, g=N, sg=0, sn=1; conv output NCHW: sm=OH*OW, g=OH*OW,
//              sg=Co*OH*OW, sn=1); accumulate != 0 adds to what C holds; relu != 0 then
//             stores max(·, 0) (a convolution and its ReLU in one pass).

struct Params {
    m: u32, n: u32, k4: u32,
    sm: u32, g: u32, sg: u32, sn: u32, base: u32,
    bias_mode: u32, accumulate: u32, relu: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Sum over k4 = k_first, k_first + k_step, ... < K4 of the 8x8 tile of C at (m0, n0):
// element (i, j) is in [2i + j/4][j % 4]. Rows past the edge are clamped to the last valid row:
// loads stay in bounds, and the results of those rows are never stored.
fn partial_tile(m0: u32, n0: u32, k_first: u32, k_step: u32) -> array<vec4<f32>, 16> {
    var ar: array<u32, 8>;
    var br: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        ar[i] = min(m0 + i, p.m - 1u) * p.k4;
        br[i] = min(n0 + i, p.n - 1u) * p.k4;
    }
    var acc: array<vec4<f32>, 16>;
    for (var k = k_first; k < p.k4; k += k_step) {
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
    return acc;
}

// Write v as C[m, n] (m < M, n < N): add the bias, map to C's layout, accumulate if asked.
fn store(m: u32, n: u32, value: f32) {
    var v = value;
    if (p.bias_mode == 1u) {
        v += bias[m];
    } else if (p.bias_mode == 2u) {
        v += bias[n];
    }
    let idx = p.base + m * p.sm + (n / p.g) * p.sg + (n % p.g) * p.sn;
    if (p.accumulate != 0u) {
        v += c[idx];
    }
    if (p.relu != 0u) {
        v = max(v, 0.0);
    }
    c[idx] = v;
}
