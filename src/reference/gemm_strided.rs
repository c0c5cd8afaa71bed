//! CPU reference of `gemm_strided`: C[z](m, n) = sum_r sum_k A(z, r, m, k) * B(z, r, k, n)
//! (+ bias[m]), each operand read through (batch, block, row, column) element strides.

/// Strides (batch, block, row, column) of an operand.
pub type Strides = (usize, usize, usize, usize);

/// C as a fresh vector of `c_len` zeros written through `sc` (block stride unused).
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    a: &[f64],
    sa: Strides,
    b: &[f64],
    sb: Strides,
    (m, n, k, blocks, batch): (usize, usize, usize, usize, usize),
    bias: Option<&[f64]>,
    sc: Strides,
    c_len: usize,
) -> Vec<f64> {
    let at = |s: Strides, z: usize, r: usize, i: usize, j: usize| z * s.0 + r * s.1 + i * s.2 + j * s.3;
    let mut c = vec![0.0; c_len];
    for z in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut s = bias.map_or(0.0, |bs| bs[i]);
                for r in 0..blocks {
                    for t in 0..k {
                        s += a[at(sa, z, r, i, t)] * b[at(sb, z, r, t, j)];
                    }
                }
                c[at(sc, z, 0, i, j)] = s;
            }
        }
    }
    c
}
