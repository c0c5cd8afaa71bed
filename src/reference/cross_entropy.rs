//! CPU reference of `cross_entropy`: class-weighted mean of -log softmax at the label.

fn log_softmax(row: &[f64]) -> Vec<f64> {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    row.iter().map(|v| v - lse).collect()
}

pub fn forward(logits: &[f64], labels: &[u32], weights: &[f64], c: usize) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (row, &y) in logits.chunks(c).zip(labels) {
        let w = weights[y as usize];
        num -= w * log_softmax(row)[y as usize];
        den += w;
    }
    num / den
}

pub fn backward(logits: &[f64], labels: &[u32], weights: &[f64], c: usize) -> Vec<f64> {
    let den: f64 = labels.iter().map(|&y| weights[y as usize]).sum();
    let mut d = Vec::new();
    for (row, &y) in logits.chunks(c).zip(labels) {
        let w = weights[y as usize];
        for (j, ls) in log_softmax(row).into_iter().enumerate() {
            d.push(w * (ls.exp() - if j == y as usize { 1.0 } else { 0.0 }) / den);
        }
    }
    d
}
