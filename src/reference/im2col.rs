//! CPU reference of `im2col`: the [P, K] matrix of receptive fields (P = N*OH*OW, K = C*KH*KW).

use super::conv2d::Geom;

pub fn im2col(x: &[f64], g: &Geom) -> Vec<f64> {
    let mut col = vec![0.0; g.n * g.oh() * g.ow() * g.c * g.kh * g.kw];
    g.for_each_tap(|e, i| col[e] = i.map_or(0.0, |i| x[i]));
    col
}
