//! CPU reference of `reduce`: per-channel sum / max of x viewed as [outer, C, inner].

/// f(x, y, c) summed (or maxed when `max`) over channel c, times `scale` for sums.
pub fn channel_reduce(
    x: &[f64],
    (outer, c, inner): (usize, usize, usize),
    max: bool,
    scale: f64,
    f: impl Fn(usize, usize) -> f64,
) -> Vec<f64> {
    assert_eq!(x.len(), outer * c * inner);
    (0..c)
        .map(|ch| {
            let vals = (0..outer).flat_map(|o| (0..inner).map(move |i| (o * c + ch) * inner + i));
            if max {
                vals.map(|i| f(i, ch)).fold(f64::NEG_INFINITY, f64::max)
            } else {
                scale * vals.map(|i| f(i, ch)).sum::<f64>()
            }
        })
        .collect()
}
