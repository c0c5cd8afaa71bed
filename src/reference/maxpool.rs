//! CPU reference of `maxpool` (padding counts as -inf; first maximum wins).

/// Returns (y, argmax within the plane as ih*W + iw) for output size (oh, ow).
#[allow(clippy::too_many_arguments)]
pub fn forward(x: &[f64], planes: usize, h: usize, w: usize, oh: usize, ow: usize, k: usize, s: usize, p: usize) -> (Vec<f64>, Vec<usize>) {
    let mut y = Vec::new();
    let mut idx = Vec::new();
    for pl in 0..planes {
        for i in 0..oh {
            for j in 0..ow {
                let mut best: Option<(f64, usize)> = None;
                for a in 0..k {
                    for b in 0..k {
                        let (Some(ih), Some(iw)) = ((i * s + a).checked_sub(p), (j * s + b).checked_sub(p)) else { continue };
                        if ih >= h || iw >= w {
                            continue;
                        }
                        let v = x[pl * h * w + ih * w + iw];
                        if best.is_none_or(|(bv, _)| v > bv) {
                            best = Some((v, ih * w + iw));
                        }
                    }
                }
                let (v, at) = best.expect("every window overlaps the input when pad <= k/2");
                y.push(v);
                idx.push(at);
            }
        }
    }
    (y, idx)
}

pub fn backward(dy: &[f64], idx: &[usize], planes: usize, h: usize, w: usize) -> Vec<f64> {
    let per = dy.len() / planes;
    let mut dx = vec![0.0; planes * h * w];
    for (o, (&d, &at)) in dy.iter().zip(idx).enumerate() {
        dx[(o / per) * h * w + at] += d;
    }
    dx
}
