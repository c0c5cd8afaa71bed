//! CPU reference of `confusion`: counts[t][argmax(row)] over the rows of a batch (first maximum;
//! a NaN never wins over a number).

pub fn accumulate(counts: &mut [f64], logits: &[f64], labels: &[u32], c: usize) {
    for (row, &t) in logits.chunks_exact(c).zip(labels) {
        let mut best = 0;
        for j in 1..c {
            if row[j] > row[best] || (row[best].is_nan() && !row[j].is_nan()) {
                best = j;
            }
        }
        counts[t as usize * c + best] += 1.0;
    }
}
