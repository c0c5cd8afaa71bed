//! CPU reference of `optim`: PyTorch's Adam/AdamW, SGD with momentum, and gradient clipping.

pub struct Adam {
    pub lr: f64,
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
    pub wd: f64,
    pub decoupled: bool,
}

/// One Adam step (t counts from 1) in place.
pub fn adam(p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], a: &Adam, t: u64) {
    let (bc1, bc2) = (1.0 - a.b1.powi(t as i32), 1.0 - a.b2.powi(t as i32));
    for i in 0..p.len() {
        let mut gi = g[i];
        if a.decoupled {
            p[i] *= 1.0 - a.lr * a.wd;
        } else {
            gi += a.wd * p[i];
        }
        m[i] = a.b1 * m[i] + (1.0 - a.b1) * gi;
        v[i] = a.b2 * v[i] + (1.0 - a.b2) * gi * gi;
        let (mhat, vhat) = (m[i] / bc1, v[i] / bc2);
        p[i] -= a.lr * mhat / (vhat.sqrt() + a.eps);
    }
}

pub fn sgd(p: &mut [f64], g: &[f64], buf: &mut [f64], lr: f64, momentum: f64, wd: f64) {
    for i in 0..p.len() {
        let gi = g[i] + wd * p[i];
        let step = if momentum != 0.0 {
            buf[i] = momentum * buf[i] + gi;
            buf[i]
        } else {
            gi
        };
        p[i] -= lr * step;
    }
}

pub fn clip_value(g: &[f64], c: f64) -> Vec<f64> {
    g.iter().map(|v| v.clamp(-c, c)).collect()
}

/// Scale factor of clip_grad_norm_: min(1, max_norm / (||g||_2 + 1e-6)) over all tensors.
pub fn clip_norm_scale(grads: &[&[f64]], max_norm: f64) -> f64 {
    let total: f64 = grads.iter().flat_map(|g| g.iter()).map(|v| v * v).sum::<f64>().sqrt();
    (max_norm / (total + 1e-6)).min(1.0)
}
