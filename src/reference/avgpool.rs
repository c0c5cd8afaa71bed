//! CPU reference of `avgpool`: fixed windows (count_include_pad: the divisor counts padding
//! taps but not the part of a ceil-mode window past the padded input) and adaptive windows.

/// Window [lo, hi) of each output cell along one axis, and its length for the divisor.
fn windows(n: usize, on: usize, fixed: Option<(usize, usize, usize)>) -> Vec<(isize, isize, f64)> {
    (0..on)
        .map(|o| match fixed {
            Some((k, s, p)) => {
                let lo = (o * s) as isize - p as isize;
                let len = (lo + k as isize).min((n + p) as isize) - lo;
                (lo, lo + k as isize, len as f64)
            }
            None => {
                let (lo, hi) = ((o * n / on) as isize, ((o + 1) * n).div_ceil(on) as isize);
                (lo, hi, (hi - lo) as f64)
            }
        })
        .collect()
}

/// `fixed` = Some((kernel, stride, pad)) or None for adaptive pooling to (oh, ow).
pub fn forward(x: &[f64], planes: usize, h: usize, w: usize, oh: usize, ow: usize, fixed: Option<(usize, usize, usize)>) -> Vec<f64> {
    let (wh, ww) = (windows(h, oh, fixed), windows(w, ow, fixed));
    let mut y = Vec::new();
    for pl in 0..planes {
        for &(h0, h1, lh) in &wh {
            for &(w0, w1, lw) in &ww {
                let div = lh * lw;
                let mut s = 0.0;
                for ih in h0.max(0)..h1.min(h as isize) {
                    for iw in w0.max(0)..w1.min(w as isize) {
                        s += x[pl * h * w + ih as usize * w + iw as usize];
                    }
                }
                y.push(s / div);
            }
        }
    }
    y
}

pub fn backward(dy: &[f64], planes: usize, h: usize, w: usize, oh: usize, ow: usize, fixed: Option<(usize, usize, usize)>) -> Vec<f64> {
    let (wh, ww) = (windows(h, oh, fixed), windows(w, ow, fixed));
    let mut dx = vec![0.0; planes * h * w];
    for pl in 0..planes {
        for (i, &(h0, h1, lh)) in wh.iter().enumerate() {
            for (j, &(w0, w1, lw)) in ww.iter().enumerate() {
                let div = lh * lw;
                let d = dy[(pl * oh + i) * ow + j] / div;
                for ih in h0.max(0)..h1.min(h as isize) {
                    for iw in w0.max(0)..w1.min(w as isize) {
                        dx[pl * h * w + ih as usize * w + iw as usize] += d;
                    }
                }
            }
        }
    }
    dx
}
