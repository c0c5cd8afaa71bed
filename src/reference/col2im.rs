//! CPU reference of `col2im`: scatter-add of a [P, K] matrix back onto the images (the adjoint
//! of im2col; the GPU gathers instead).

use super::conv2d::Geom;

pub fn col2im(dcol: &[f64], g: &Geom) -> Vec<f64> {
    let mut dx = vec![0.0; g.n * g.c * g.h * g.w];
    g.for_each_tap(|e, i| {
        if let Some(i) = i {
            dx[i] += dcol[e];
        }
    });
    dx
}
