//! Which variant of a kernel each op uses for a given shape on this adapter. The gpu layer only
//! stores the choices (indices into the op's own list of variants, see `ops::gemm`); `heft tune`
//! measures and fills them, and ops look them up. While recording, every lookup's (op, shape)
//! is kept, so that a tuner can learn which shapes a training step uses.

use std::collections::{BTreeSet, HashMap};

/// An op's sizes, e.g. [M, N, K] of a GEMM, or a convolution's geometry (`conv2d::key`).
pub type Shape = Vec<usize>;

#[derive(Default)]
pub struct Tuning {
    choices: HashMap<(&'static str, Shape), usize>,
    /// Where the choices came from (a cache file), for reports.
    pub source: Option<String>,
    recorded: Option<BTreeSet<(&'static str, Shape)>>,
}

impl Tuning {
    /// The tuned variant of `op` at `shape`; else that of the tuned shape of `op` that differs
    /// from it in one size only, the closest in ratio (the same layer at another batch size, as
    /// in an epoch's last batch). Notes the lookup while recording.
    pub fn lookup(&mut self, op: &'static str, shape: Shape) -> Option<usize> {
        if let Some(r) = &mut self.recorded {
            r.insert((op, shape.clone()));
        }
        if let Some(&c) = self.choices.get(&(op, shape.clone())) {
            return Some(c);
        }
        let differ = |s: &Shape| s.len() == shape.len() && s.iter().zip(&shape).filter(|(a, b)| a != b).count() == 1;
        let ratio = |a: usize, b: usize| (a.max(1) as f64 / b.max(1) as f64).ln().abs();
        self.choices
            .iter()
            .filter(|((o, s), _)| *o == op && differ(s))
            .map(|((_, s), &c)| (s.iter().zip(&shape).map(|(&a, &b)| ratio(a, b)).sum::<f64>(), s, c))
            .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(y.1)))
            .map(|(_, _, c)| c)
    }

    pub fn set(&mut self, op: &'static str, shape: Shape, variant: usize) {
        self.choices.insert((op, shape), variant);
    }

    /// Every (op, shape) with a tuned choice.
    pub fn tuned(&self) -> Vec<(&'static str, Shape, usize)> {
        let mut v: Vec<_> = self.choices.iter().map(|((op, s), &c)| (*op, s.clone(), c)).collect();
        v.sort();
        v
    }

    /// Start keeping the (op, shape) of every lookup.
    pub fn record(&mut self) {
        self.recorded = Some(BTreeSet::new());
    }

    /// What was looked up since `record`, sorted; stops recording.
    pub fn take_recorded(&mut self) -> Vec<(&'static str, Shape)> {
        self.recorded.take().map(|r| r.into_iter().collect()).unwrap_or_default()
    }
}
