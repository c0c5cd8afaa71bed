// gemm_strided.wgsl — a batched GEMM over arbitrary element strides, so that operands are read
// where they lie (NCHW images, a weight or its transpose) with no packed copy: the 1×1 stride-1
// convolutions (SqueezeNet's squeeze and expand layers), forward and backward, need no im2col,
// col2im or pack at all. Register-blocked form: the static choice where subgroups of 8 are
// missing (gemm_strided_bcast.wgsl otherwise on CPU drivers).
//
// Columns come in groups of G (an image's pixels, images one after another: N = images * H*W),
// so one product spans a batch of images and small images still fill the 8 columns of a
// thread. The product, the strides, parameters, bindings and the epilogue:
// gemm_strided_common.wgsl (appended by the gpu layer).
// Grid: x = ceil(N/64), y = ceil(M/64); workgroup 8x8, each thread an 8x8 tile of C
// (registers only: workgroup memory and barriers are slow on CPU drivers).

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
        bc[i] = b_column(min(n0 + i, p.n - 1u));
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
            store(m0 + i, n0 + j, acc[2u * i + j / 4u][j % 4u]);
        }
    }
}
