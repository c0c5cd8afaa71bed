// gemm_strided_common.wgsl — what both forms of the strided GEMM (gemm_strided.wgsl and
// gemm_strided_bcast.wgsl) share: the parameter block, the bindings and the epilogue. The gpu
// layer appends this file to the source of every shader named gemm_strided*, after the
// shader's own lines. Not a kernel itself.
//
//   C(m, n) = sum_{r < R} sum_{k < K} A(r, m, k) * B(r, k, n)  (+ bias[m]) (+ C's old value)
//   A(r, m, k) = a[r*sar + m*sam + k*sak]
//   B(r, k, n) = b[r*sbr + k*sbk + (n / G)*sbg + (n % G)*sbn]
//   C(m, n)    = c[m*scm + (n / G)*scg + (n % G)*scn]
// Shapes: M x N outputs, a reduction over R blocks of K. bias_rows != 0 adds bias[m] (bias
// [M]; bind any buffer otherwise); accumulate != 0 adds C's old value; relu != 0 then stores
// max(·, 0) (a convolution and its ReLU in one pass). Every index is bounded by the wrapper
// (largest index of each operand < its length; G >= 1).

struct Params {
    m: u32, n: u32, k: u32, r: u32, g: u32,
    sar: u32, sam: u32, sak: u32,
    sbr: u32, sbk: u32, sbg: u32, sbn: u32,
    scm: u32, scg: u32, scn: u32,
    bias_rows: u32, accumulate: u32, relu: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Offset of column n in B (n < N): its image and its pixel.
fn b_column(n: u32) -> u32 {
    return (n / p.g) * p.sbg + (n % p.g) * p.sbn;
}

// Write v as C(m, n) (m < M, n < N): add the bias, accumulate and apply the ReLU if asked.
fn store(m: u32, n: u32, value: f32) {
    var v = value;
    if (p.bias_rows != 0u) {
        v += bias[m];
    }
    let idx = m * p.scm + (n / p.g) * p.scg + (n % p.g) * p.scn;
    if (p.accumulate != 0u) {
        v += c[idx];
    }
    if (p.relu != 0u) {
        v = max(v, 0.0);
    }
    c[idx] = v;
}
