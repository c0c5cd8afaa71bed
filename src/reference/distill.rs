//! CPU reference of `distill`: T^2/N * sum_n KL(softmax(t_n/T) || softmax(s_n/T)).

fn softmax(row: &[f64], t: f64) -> Vec<f64> {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|v| ((v - m) / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

pub fn forward(student: &[f64], teacher: &[f64], c: usize, t: f64) -> f64 {
    let n = student.len() / c;
    let kl: f64 = student
        .chunks(c)
        .zip(teacher.chunks(c))
        .map(|(s, tc)| {
            let (ps, pt) = (softmax(s, t), softmax(tc, t));
            pt.iter().zip(&ps).map(|(a, b)| a * (a.ln() - b.ln())).sum::<f64>()
        })
        .sum();
    t * t * kl / n as f64
}

pub fn backward(student: &[f64], teacher: &[f64], c: usize, t: f64) -> Vec<f64> {
    let n = student.len() / c;
    student
        .chunks(c)
        .zip(teacher.chunks(c))
        .flat_map(|(s, tc)| {
            let (ps, pt) = (softmax(s, t), softmax(tc, t));
            ps.into_iter().zip(pt).map(move |(a, b)| t / n as f64 * (a - b)).collect::<Vec<_>>()
        })
        .collect()
}
