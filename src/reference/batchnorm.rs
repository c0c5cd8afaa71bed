//! CPU reference of `batchnorm` (BatchNorm2d, training and eval mode) and its backward.

/// Training mode on x [N, C, HW]: (y, xhat, mean, biased var).
pub fn forward_train(x: &[f64], n: usize, c: usize, hw: usize, gamma: &[f64], beta: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let count = (n * hw) as f64;
    let idx = |b: usize, ch: usize, i: usize| (b * c + ch) * hw + i;
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for ch in 0..c {
        let vals: Vec<f64> = (0..n).flat_map(|b| (0..hw).map(move |i| (b, i))).map(|(b, i)| x[idx(b, ch, i)]).collect();
        mean[ch] = vals.iter().sum::<f64>() / count;
        var[ch] = vals.iter().map(|v| (v - mean[ch]).powi(2)).sum::<f64>() / count;
    }
    let mut y = vec![0.0; x.len()];
    let mut xhat = vec![0.0; x.len()];
    for (i, v) in x.iter().enumerate() {
        let ch = (i / hw) % c;
        xhat[i] = (v - mean[ch]) / (var[ch] + eps).sqrt();
        y[i] = gamma[ch] * xhat[i] + beta[ch];
    }
    (y, xhat, mean, var)
}

/// Running-average update as PyTorch does it (unbiased variance).
pub fn update_running(rm: &mut [f64], rv: &mut [f64], mean: &[f64], var: &[f64], count: usize, momentum: f64) {
    for ch in 0..rm.len() {
        rm[ch] = (1.0 - momentum) * rm[ch] + momentum * mean[ch];
        rv[ch] = (1.0 - momentum) * rv[ch] + momentum * var[ch] * count as f64 / (count as f64 - 1.0);
    }
}

/// Eval-mode forward with the running statistics `(mean, var)`.
pub fn forward_eval(x: &[f64], (c, hw): (usize, usize), gamma: &[f64], beta: &[f64], (rm, rv): (&[f64], &[f64]), eps: f64) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let ch = (i / hw) % c;
            gamma[ch] * (v - rm[ch]) / (rv[ch] + eps).sqrt() + beta[ch]
        })
        .collect()
}

/// Training-mode backward, written from the chain rule through mean and variance (not from the
/// closed form the kernel uses): (dx, dgamma, dbeta).
pub fn backward(x: &[f64], dy: &[f64], n: usize, c: usize, hw: usize, gamma: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (_, xhat, mean, var) = forward_train(x, n, c, hw, gamma, &vec![0.0; c], eps);
    let count = (n * hw) as f64;
    let mut dgamma = vec![0.0; c];
    let mut dbeta = vec![0.0; c];
    let mut dvar = vec![0.0; c];
    let mut dmean = vec![0.0; c];
    for i in 0..x.len() {
        let ch = (i / hw) % c;
        dgamma[ch] += dy[i] * xhat[i];
        dbeta[ch] += dy[i];
        let dxhat = dy[i] * gamma[ch];
        dvar[ch] += dxhat * (x[i] - mean[ch]) * -0.5 * (var[ch] + eps).powf(-1.5);
        dmean[ch] += -dxhat / (var[ch] + eps).sqrt();
    }
    let dx = (0..x.len())
        .map(|i| {
            let ch = (i / hw) % c;
            dy[i] * gamma[ch] / (var[ch] + eps).sqrt() + dvar[ch] * 2.0 * (x[i] - mean[ch]) / count + dmean[ch] / count
        })
        .collect();
    (dx, dgamma, dbeta)
}
