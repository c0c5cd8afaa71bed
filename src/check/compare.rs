//! One comparison of `heft check`: a `Row` with the worst errors of heft's values against a
//! reference under `|got − ref| ≤ atol + rtol·|ref|`, and the first divergence among rows.

use serde::Serialize;

/// Element-wise ops (ReLU, pooling's selection, copies): one f32 operation on each side, so
/// heft and the reference agree to f32 rounding of values of order 1, 1e-6 absolute.
pub const EW: (f64, f64) = (1e-6, 0.0);
/// Reductions, convolutions, matrix products, losses: sums of up to a few thousand f32 terms in
/// a different order than the reference's; relative error grows like √terms·2⁻²⁴ ≈ 1e-5 and
/// cancellation makes it absolute near 0, so 1e-5 + 1e-4·|ref|.
pub const RED: (f64, f64) = (1e-5, 1e-4);

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub kernel: String,
    pub case: String,
    pub max_abs: f64,
    pub max_rel: f64,
    pub atol: f64,
    pub rtol: f64,
    pub pass: bool,
    /// Shown for information only: a failing information row does not fail the check.
    pub info: bool,
    /// False for a comparison the reference cannot make (a dump without those tensors): the
    /// row is listed as not checked and counts neither as passed nor as failed.
    pub checked: bool,
}

impl Row {
    /// Whether this row fails the check (an information row never does).
    pub fn fails(&self) -> bool {
        !self.pass && !self.info
    }

    /// The same comparison, shown for information only.
    pub fn info(self) -> Row {
        Row { info: true, ..self }
    }

    /// A comparison the reference cannot make; `case` says what and why.
    pub fn not_checked(kernel: &str, case: &str) -> Row {
        Row { kernel: kernel.into(), case: case.into(), max_abs: f64::NAN, max_rel: f64::NAN, atol: 0.0, rtol: 0.0, pass: true, info: true, checked: false }
    }
}

/// Compare `got` with `want` under `atol + rtol·|want|`; a NaN or a length mismatch fails.
pub fn compare(kernel: &str, case: &str, got: &[f32], want: &[f32], atol: f64, rtol: f64) -> Row {
    let (mut max_abs, mut max_rel, mut pass) = (0.0f64, 0.0f64, got.len() == want.len());
    for (g, w) in got.iter().zip(want) {
        let (g, w) = (*g as f64, *w as f64);
        let err = (g - w).abs();
        if err.is_nan() || err > atol + rtol * w.abs() {
            pass = false;
        }
        max_abs = max_abs.max(if err.is_nan() { f64::INFINITY } else { err });
        max_rel = max_rel.max(err / w.abs().max(1e-12));
    }
    Row { kernel: kernel.into(), case: case.into(), max_abs, max_rel, atol, rtol, pass, info: false, checked: true }
}

/// The first failing row. Suites emit rows in execution order (a whole model: forward, then
/// the backward from the output towards the input), so this is where heft first diverges.
pub fn first_failure(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| r.fails())
}

/// Every failing row, in order.
pub fn failures(rows: &[Row]) -> Vec<&Row> {
    rows.iter().filter(|r| r.fails()).collect()
}
