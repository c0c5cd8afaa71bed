//! CPU reference of `im2col`: the [P, K] matrix of receptive fields (P = N*OH*OW, K = C*KH*KW).

use super::conv2d::Geom;

pub fn im2col(x: &[f64], g: &Geom) -> Vec<f64> {
    let k = g.c * g.kh * g.kw;
    let mut col = vec![0.0; g.n * g.oh() * g.ow() * k];
    let mut row = 0;
    for n in 0..g.n {
        for oh in 0..g.oh() {
            for ow in 0..g.ow() {
                for c in 0..g.c {
                    for kh in 0..g.kh {
                        for kw in 0..g.kw {
                            col[row * k + (c * g.kh + kh) * g.kw + kw] = g.tap(x, n, c, oh, ow, kh, kw).unwrap_or(0.0);
                        }
                    }
                }
                row += 1;
            }
        }
    }
    col
}
