//! CPU reference of `gemm_strided`: C(m, n) = sum_r sum_k A(r, m, k) * B(r, k, n) (+ bias[m]),
//! each operand's element (r, i, j) read at r*sr + i*si + (j / group)*sg + (j % group)*sj.

/// Strides (block, row, column group, column) of an operand.
pub type Strides = (usize, usize, usize, usize);

/// C as a fresh vector of `c_len` zeros written through `sc`; A's columns are not grouped.
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    a: &[f64],
    sa: Strides,
    b: &[f64],
    sb: Strides,
    (m, n, k, blocks, group): (usize, usize, usize, usize, usize),
    bias: Option<&[f64]>,
    sc: Strides,
    c_len: usize,
) -> Vec<f64> {
    let at = |s: Strides, r: usize, i: usize, j: usize, g: usize| r * s.0 + i * s.1 + (j / g) * s.2 + (j % g) * s.3;
    let mut c = vec![0.0; c_len];
    for i in 0..m {
        for j in 0..n {
            let mut s = bias.map_or(0.0, |bs| bs[i]);
            for r in 0..blocks {
                for t in 0..k {
                    s += a[at(sa, r, i, t, usize::MAX)] * b[at(sb, r, t, j, group)];
                }
            }
            c[at(sc, 0, i, j, group)] = s;
        }
    }
    c
}
