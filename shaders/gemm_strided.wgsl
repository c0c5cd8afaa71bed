// gemm_strided.wgsl — a batched GEMM over arbitrary element strides, so that operands are read
// where they lie (NCHW images, a weight or its transpose) with no packed copy: the 1×1 stride-1
// convolutions (SqueezeNet's squeeze and expand layers), forward and backward, need no im2col,
// col2im or pack at all.
//
//   C(m, n) = sum_{r < R} sum_{k < K} A(r, m, k) * B(r, k, n)  (+ bias[m]) (+ C's old value)
//   A(r, m, k) = a[r*sar + m*sam + k*sak]
//   B(r, k, n) = b[r*sbr + k*sbk + (n / G)*sbg + (n % G)*sbn]
//   C(m, n)    = c[m*scm + (n / G)*scg + (n % G)*scn]
// Columns come in groups of G (an image's pixels, images one after another: N = images * H*W),
// so one product spans a batch of images and small images still fill the 8 columns of a
// thread. Shapes: M x N outputs, a reduction over R blocks of K. bias_rows != 0 adds bias[m]
// (bias [M]; bind any buffer otherwise); accumulate != 0 adds C's old value; relu != 0 then
// stores max(·, 0) (a convolution and its ReLU in one pass).
// Every index is bounded by the wrapper (largest index of each operand < its length; G >= 1).
// Grid: x = ceil(N/64), y = ceil(M/64); workgroup 8x8, each thread an 8x8 tile of C
// (registers only: workgroup memory and barriers are slow on CPU drivers).

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

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * 8u;
    let n0 = gid.x * 8u;
    if (m0 >= p.m || n0 >= p.n) {
        return;
    }
    // rows and columns past the edge are clamped to the last valid one: loads stay in bounds,
    // and their results are never stored
    var ar: array<u32, 8>;
    var bc: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        ar[i] = min(m0 + i, p.m - 1u) * p.sam;
        let n = min(n0 + i, p.n - 1u);
        bc[i] = (n / p.g) * p.sbg + (n % p.g) * p.sbn;
    }
    var acc: array<vec4<f32>, 16>;
    for (var r = 0u; r < p.r; r++) {
        var ao = r * p.sar;
        var bo = r * p.sbr;
        for (var k = 0u; k < p.k; k++) {
            let b0 = vec4<f32>(b[bc[0] + bo], b[bc[1] + bo], b[bc[2] + bo], b[bc[3] + bo]);
            let b1 = vec4<f32>(b[bc[4] + bo], b[bc[5] + bo], b[bc[6] + bo], b[bc[7] + bo]);
            for (var i = 0u; i < 8u; i++) {
                let av = a[ar[i] + ao];
                acc[2u * i] += av * b0;
                acc[2u * i + 1u] += av * b1;
            }
            ao += p.sak;
            bo += p.sbk;
        }
    }
    for (var i = 0u; i < 8u && m0 + i < p.m; i++) {
        for (var j = 0u; j < 8u && n0 + j < p.n; j++) {
            var v = acc[2u * i + j / 4u][j % 4u];
            if (p.bias_rows != 0u) {
                v += bias[m0 + i];
            }
            let n = n0 + j;
            let idx = (m0 + i) * p.scm + (n / p.g) * p.scg + (n % p.g) * p.scn;
            if (p.accumulate != 0u) {
                v += c[idx];
            }
            if (p.relu != 0u) {
                v = max(v, 0.0);
            }
            c[idx] = v;
        }
    }
}
