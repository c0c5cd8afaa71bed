// matmul_tiled.wgsl — GEMM variant for GPUs (same contract as matmul.wgsl): C[m, n] = sum_k A[m, k] * B[n, k].
// Workgroup-memory tiling: a 16x16 workgroup computes a BM x BM block of C (BM = 16*TM); each
// K slice of 16 is loaded once into workgroup memory by all 256 threads (consecutive threads
// read consecutive vec4s of a row: coalesced), stored transposed so that each thread reads its
// TM rows and TM columns as vec4s, and every thread accumulates a TM x TM micro-tile in
// registers. TM is set per pipeline (4 or 8: 64x64 or 128x128 blocks) by specialising the
// `const TM` below. Shapes, parameters, bindings and the epilogue: matmul_common.wgsl (appended
// by the gpu layer). Grid: x = ceil(N/BM), y = ceil(M/BM); workgroup 16x16.

const TM: u32 = 4u;           // micro-tile side per thread (4 or 8)
const BM: u32 = 16u * TM;     // block side
const BK4: u32 = 4u;          // K slice per step, in vec4 (16 values)
const LOADS: u32 = BM * BK4 / 256u; // vec4 loads per thread per operand and slice
// As[kk * BM/4 + r/4][r % 4] = A[m0 + r, k0*4 + kk]: the slice transposed, rows packed in vec4
var<workgroup> As: array<vec4<f32>, 4u * BK4 * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, 4u * BK4 * BM / 4u>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = wid.y * BM;
    let n0 = wid.x * BM;
    var acc: array<array<vec4<f32>, TM / 4u>, TM>;
    for (var k0 = 0u; k0 < p.k4; k0 += BK4) {
        for (var t = 0u; t < LOADS; t++) {
            let e = li + 256u * t; // element (r, kq) of the BM x BK4 slice
            let r = e / BK4;
            let kq = e % BK4;
            var av = vec4<f32>(0.0);
            var bv = vec4<f32>(0.0);
            if (k0 + kq < p.k4) {
                // rows past the edge are clamped; their results are never stored
                av = a[min(m0 + r, p.m - 1u) * p.k4 + k0 + kq];
                bv = b[min(n0 + r, p.n - 1u) * p.k4 + k0 + kq];
            }
            let s = 4u * kq * (BM / 4u) + r / 4u;
            let q = r % 4u;
            As[s][q] = av.x;
            As[s + BM / 4u][q] = av.y;
            As[s + 2u * BM / 4u][q] = av.z;
            As[s + 3u * BM / 4u][q] = av.w;
            Bs[s][q] = bv.x;
            Bs[s + BM / 4u][q] = bv.y;
            Bs[s + 2u * BM / 4u][q] = bv.z;
            Bs[s + 3u * BM / 4u][q] = bv.w;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 4u * BK4; kk++) {
            var bq: array<vec4<f32>, TM / 4u>;
            for (var j = 0u; j < TM / 4u; j++) {
                bq[j] = Bs[kk * (BM / 4u) + lid.x * (TM / 4u) + j];
            }
            for (var i4 = 0u; i4 < TM / 4u; i4++) {
                let av = As[kk * (BM / 4u) + lid.y * (TM / 4u) + i4];
                for (var j = 0u; j < TM / 4u; j++) {
                    acc[4u * i4][j] += av.x * bq[j];
                    acc[4u * i4 + 1u][j] += av.y * bq[j];
                    acc[4u * i4 + 2u][j] += av.z * bq[j];
                    acc[4u * i4 + 3u][j] += av.w * bq[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + lid.y * TM + i;
        if (m >= p.m) {
            break;
        }
        for (var j = 0u; j < TM; j++) {
            let n = n0 + lid.x * TM + j;
            if (n >= p.n) {
                break;
            }
            store(m, n, acc[i][j / 4u][j % 4u]);
        }
    }
}
