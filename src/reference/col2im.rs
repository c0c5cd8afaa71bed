//! CPU reference of `col2im`: scatter-add of a [P, K] matrix back onto the images (the adjoint
//! of im2col; the GPU gathers instead).

use super::conv2d::Geom;

pub fn col2im(dcol: &[f64], g: &Geom) -> Vec<f64> {
    let k = g.c * g.kh * g.kw;
    let mut dx = vec![0.0; g.n * g.c * g.h * g.w];
    let mut row = 0;
    for n in 0..g.n {
        for oh in 0..g.oh() {
            for ow in 0..g.ow() {
                for c in 0..g.c {
                    for kh in 0..g.kh {
                        for kw in 0..g.kw {
                            if let Some(i) = g.tap_index(n, c, oh, ow, kh, kw) {
                                dx[i] += dcol[row * k + (c * g.kh + kh) * g.kw + kw];
                            }
                        }
                    }
                }
                row += 1;
            }
        }
    }
    dx
}
