//! CPU reference of conv2d: direct seven-loop convolution and its gradients.

#[derive(Clone, Copy, Debug)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geom {
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }
    /// Index into x of tap (kh, kw) of output (oh, ow), or None when it falls in the padding.
    pub fn tap_index(&self, n: usize, c: usize, oh: usize, ow: usize, kh: usize, kw: usize) -> Option<usize> {
        let ih = (oh * self.stride + kh).checked_sub(self.pad)?;
        let iw = (ow * self.stride + kw).checked_sub(self.pad)?;
        (ih < self.h && iw < self.w).then(|| ((n * self.c + c) * self.h + ih) * self.w + iw)
    }
    /// Every entry of the unfolded [P, K] matrix (P = N*OH*OW, K = C*KH*KW) in row-major order:
    /// `f(entry index, index into x or None in the padding)`.
    pub fn for_each_tap(&self, mut f: impl FnMut(usize, Option<usize>)) {
        let k = self.c * self.kh * self.kw;
        let mut row = 0;
        for n in 0..self.n {
            for oh in 0..self.oh() {
                for ow in 0..self.ow() {
                    for c in 0..self.c {
                        for kh in 0..self.kh {
                            for kw in 0..self.kw {
                                f(row * k + (c * self.kh + kh) * self.kw + kw, self.tap_index(n, c, oh, ow, kh, kw));
                            }
                        }
                    }
                    row += 1;
                }
            }
        }
    }
    fn w_index(&self, o: usize, c: usize, kh: usize, kw: usize) -> usize {
        ((o * self.c + c) * self.kh + kh) * self.kw + kw
    }
}

pub fn forward(x: &[f64], w: &[f64], b: Option<&[f64]>, g: &Geom) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut y = vec![0.0; g.n * g.co * oh * ow];
    for n in 0..g.n {
        for o in 0..g.co {
            for i in 0..oh {
                for j in 0..ow {
                    let mut s = b.map_or(0.0, |b| b[o]);
                    for c in 0..g.c {
                        for kh in 0..g.kh {
                            for kw in 0..g.kw {
                                if let Some(v) = g.tap_index(n, c, i, j, kh, kw).map(|t| x[t]) {
                                    s += v * w[g.w_index(o, c, kh, kw)];
                                }
                            }
                        }
                    }
                    y[((n * g.co + o) * oh + i) * ow + j] = s;
                }
            }
        }
    }
    y
}

/// (dx, dw, db)
pub fn backward(x: &[f64], w: &[f64], dy: &[f64], g: &Geom) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (oh, ow) = (g.oh(), g.ow());
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; g.co];
    for n in 0..g.n {
        for o in 0..g.co {
            for i in 0..oh {
                for j in 0..ow {
                    let d = dy[((n * g.co + o) * oh + i) * ow + j];
                    db[o] += d;
                    for c in 0..g.c {
                        for kh in 0..g.kh {
                            for kw in 0..g.kw {
                                if let Some(xi) = g.tap_index(n, c, i, j, kh, kw) {
                                    let wi = g.w_index(o, c, kh, kw);
                                    dw[wi] += d * x[xi];
                                    dx[xi] += d * w[wi];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw, db)
}
