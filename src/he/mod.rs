//! HE deployment analysis (`heft he-report`): which layers CKKS can evaluate, the
//! multiplicative depth each costs, and CKKS parameters for 128-bit security.
//!
//! Level accounting (plaintext weights, ciphertext activations):
//! - convolution / linear: 1 level (ciphertext × plaintext, then rescale);
//! - a linearised activation c0 + c1·x (`ActKind::Affine`): 0 levels (it folds into the linear
//!   layer before it); a linear layer reached from another through only such activations,
//!   batch norms and dropout merges into it (a Linear into the Linear before it; a 1×1
//!   stride-1 convolution without padding into the convolution before it): 0 levels. The rule
//!   is `merge::step`'s, which the ONNX export follows too;
//! - polynomial activation c0 + c1·x + c2·x²: 1 level. x² is one ciphertext multiplication;
//!   c2 and c0 fold into the next linear layer (x² + (c1/c2)·x scaled by c2 there, c0 into its
//!   bias), and (c1/c2)·x is a plaintext-scalar product computed beside x², not after it.
//!   Without that folding it costs 2 levels (c2·x² needs a second rescale);
//! - average pooling: 0 levels (rotations and additions; the 1/k² factor folds into the next
//!   linear layer);
//! - batch norm: 0 levels (a per-channel affine map, folded into the adjacent convolution);
//! - dropout, flatten: 0 (identity / reshape at inference);
//! - a residual addition: 0 levels (the shallower branch is brought down to the deeper's level).
//!
//! ReLU, max pooling and a ReLU→polynomial blend that is not finished are not HE-friendly.

mod fire;
pub(crate) mod merge;
pub mod onnx;
mod onnx_poly;
mod proto;
pub mod report;
pub mod sample;

use crate::nn::layers::{Activation, Block, Branches, Leaf, PoolKind};
use crate::nn::tree::Node;
use crate::nn::tree::Flow;
use crate::nn::model::Model;
use merge::{Chain, Step};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct LayerCost {
    pub name: String,
    pub kind: String,
    /// Levels this layer consumes.
    pub levels: usize,
    /// Levels consumed from the input up to and including this layer.
    pub depth: usize,
    /// None when CKKS can evaluate the layer; else why not.
    pub problem: Option<String>,
}

fn act_cost(a: &Activation) -> (usize, Option<String>) {
    match &a.coef {
        Some(_) if merge::is_affine(a) => (0, None),
        Some(_) if a.ratio >= 1.0 => (1, None),
        Some(_) => (1, Some(format!("{} still blends in ReLU (ratio {})", a.name, a.ratio))),
        None => (0, Some(format!("{} is a ReLU", a.name))),
    }
}

/// Per-layer levels and cumulative depth, in execution order: a row per leaf, then a row per
/// named block (e.g. a fire module) and per join with the levels consumed inside it. Branches
/// start at the same depth and join at the deepest (CKKS brings the others down to its level).
pub fn depth(model: &Model) -> Vec<LayerCost> {
    let mut costs = Costs { rows: Vec::new(), chain: None };
    let Ok(_) = model.root.flow(&mut costs, 0, 0);
    costs.rows
}

/// The rows of `depth`, as a flow of the depth reached.
struct Costs {
    rows: Vec<LayerCost>,
    /// The chain a following layer may merge into (`merge::step`), and its first layer's name.
    chain: Option<(Chain, String)>,
}

impl Costs {
    /// Adds a row for a node reached at `depth` that consumes `levels`; returns the new depth.
    fn row(&mut self, name: &str, kind: String, depth: usize, levels: usize, problem: Option<String>) -> usize {
        // unnamed layers (dropout, flatten, joins) are labelled by their row
        let name = if name.is_empty() { format!("#{}", self.rows.len()) } else { name.to_string() };
        self.rows.push(LayerCost { name, kind, levels, depth: depth + levels, problem });
        depth + levels
    }
}

impl<'a> Flow<'a> for Costs {
    type V = usize;
    type Error = std::convert::Infallible;

    fn leaf(&mut self, leaf: Leaf<'a>, depth: usize, _: usize) -> Result<usize, Self::Error> {
        let (name, kind, levels, problem) = match leaf {
            Leaf::Conv(c) => (&c.name, "Conv".to_string(), 1, c.relu.then(|| "ReLU (fused into the convolution) is not polynomial".to_string())),
            Leaf::Linear(l) => (&l.name, "Linear".to_string(), 1, None),
            Leaf::Act(a) => {
                let (l, p) = act_cost(a);
                let kind = if l == 0 && p.is_none() { "Affine (folded)".to_string() } else { format!("{:?}", a.kind) };
                (&a.name, kind, l, p)
            }
            Leaf::Pool(p) => match p.kind {
                PoolKind::Max(_) => (&p.name, "MaxPool".into(), 0, Some("max pooling is not polynomial".into())),
                PoolKind::Avg(_) => (&p.name, "AvgPool".into(), 0, None),
                PoolKind::GlobalAvg => (&p.name, "GlobalAvgPool".into(), 0, None),
            },
            Leaf::BatchNorm(b) => (&b.name, "BatchNorm (folded)".into(), 0, None),
            Leaf::Dropout(_) => (&String::new(), "Dropout".into(), 0, None),
            Leaf::Flatten => (&String::new(), "Flatten".into(), 0, None),
        };
        let (kind, levels) = match (merge::step(self.chain.as_ref().map(|c| c.0), leaf), &self.chain) {
            (Step::Merge, Some((_, into))) => (format!("{kind} (merged into {into})"), 0),
            (Step::Start(chain), _) => {
                self.chain = Some((chain, name.clone()));
                (kind, levels)
            }
            (Step::End, _) => {
                self.chain = None;
                (kind, levels)
            }
            (Step::Merge | Step::Absorb, _) => (kind, levels),
        };
        Ok(self.row(name, kind, depth, levels, problem))
    }

    fn enter(&mut self, _: Node<'a>, depth: usize, _: usize) -> Result<usize, Self::Error> {
        self.chain = None; // nothing merges across a block's or a branch's edge
        Ok(depth)
    }

    fn join(&mut self, b: &'a Branches, start: &usize, outs: Vec<usize>, _: usize) -> Result<usize, Self::Error> {
        self.chain = None;
        let end = outs.into_iter().max().unwrap_or(*start);
        Ok(self.row("", format!("{:?}", b.join), *start, end - start, None))
    }

    fn exit(&mut self, b: &'a Block, start: &usize, end: usize, _: usize) -> Result<usize, Self::Error> {
        self.chain = None;
        if !b.name.is_empty() {
            self.row(&b.name, b.kind.into(), *start, end - start, None);
        }
        Ok(end)
    }
}

/// Largest log2(Q·P) for 128-bit classical security with a ternary secret, by ring dimension
/// (Homomorphic Encryption Standard, ia.cr/2019/939; 65536 and 131072 as OpenFHE extends it).
pub const HE_STD_128: [(usize, u32); 8] =
    [(1024, 27), (2048, 54), (4096, 109), (8192, 218), (16384, 438), (32768, 881), (65536, 1747), (131072, 3523)];

#[derive(Clone, Debug, Serialize)]
pub struct Ckks {
    pub ring_dim: usize,
    pub slots: usize,
    pub scale_bits: u32,
    pub first_prime_bits: u32,
    pub special_prime_bits: u32,
    /// Rescaling primes, one per level.
    pub levels: usize,
    pub total_bits: u32,
    pub max_total_bits: u32,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
}

/// CKKS parameters for `depth` levels with values up to `max_abs` (None: unknown, assume 2^10).
/// The scale is the largest of 40, 35, 30, 25 bits that fits the ring dimension the depth needs.
pub fn recommend(depth: usize, max_abs: Option<f64>) -> Ckks {
    let int_bits = max_abs.map_or(10, |m| (m.max(1.0).log2().ceil() as u32) + 1);
    let mut warnings = Vec::new();
    for scale in [40u32, 35, 30, 25] {
        let first = (scale + int_bits).min(60);
        let special = 60;
        let total = first + depth as u32 * scale + special;
        if let Some(&(n, bound)) = HE_STD_128.iter().find(|(_, b)| *b >= total) {
            if scale + int_bits > 60 {
                warnings.push(format!("values up to {:.3e} need {} integer bits: above a 60-bit first prime; rescale the inputs or add range-awareness training", max_abs.unwrap_or(0.0), int_bits));
            }
            if int_bits + 10 > scale {
                warnings.push(format!("values up to 2^{int_bits} leave fewer than 10 bits of precision at a 2^{scale} scale"));
            }
            return Ckks {
                ring_dim: n,
                slots: n / 2,
                scale_bits: scale,
                first_prime_bits: first,
                special_prime_bits: special,
                levels: depth,
                total_bits: total,
                max_total_bits: bound,
                reasons: vec![
                    format!("scale 2^{scale}: the largest of 40/35/30/25 bits whose modulus fits a 128-bit-secure ring"),
                    format!("first prime {first} bits = scale + {int_bits} bits for the integer part of the largest value"),
                    format!("{depth} rescaling primes of {scale} bits, one per level"),
                    format!("special (key-switching) prime {special} bits"),
                    format!("log2(QP) = {first} + {depth}·{scale} + {special} = {total} ≤ {bound}, the 128-bit bound for N = {n}"),
                ],
                warnings,
            };
        }
    }
    let (n, bound) = HE_STD_128[HE_STD_128.len() - 1];
    Ckks {
        ring_dim: n,
        slots: n / 2,
        scale_bits: 25,
        first_prime_bits: 60,
        special_prime_bits: 60,
        levels: depth,
        total_bits: 60 + depth as u32 * 25 + 60,
        max_total_bits: bound,
        reasons: vec![],
        warnings: vec![format!("depth {depth} does not fit any 128-bit-secure ring dimension up to {n}: bootstrapping or a shallower student is needed")],
    }
}

/// Observed input range of one activation over the data.
#[derive(Clone, Debug, Serialize)]
pub struct ActStats {
    pub name: String,
    pub min: f32,
    pub max: f32,
    /// 99.9th percentile of |x|.
    pub p999_abs: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct DataStats {
    pub images: usize,
    pub acts: Vec<ActStats>,
    /// Largest |value| of any layer output (fire modules: their concatenated output) and of
    /// any activation input.
    pub max_abs: f32,
    /// Each image's largest |activation input|: median, 99th percentile and largest over the
    /// images (a few unusual images can lie far beyond the rest).
    pub image_peaks: [f32; 3],
    /// The (up to) 3 images with the largest peaks, largest first.
    pub worst_images: Vec<crate::nn::eval::NamedPeak>,
}

/// Run `model` (eval mode) over up to `max_batches` batches of `ds` and collect activation input
/// ranges and the largest intermediate value.
pub fn observe(
    model: &Model,
    ds: &crate::data::Dataset,
    norm: crate::data::image::Normalize,
    batch: usize,
    max_batches: usize,
) -> crate::Result<DataStats> {
    use crate::data::loader::{Loader, LoaderCfg};
    use crate::nn::eval::{beyond, forward_batches, Keep, NamedPeak};
    let cfg = LoaderCfg::inference(model.config.input, model.config.in_channels, batch, norm);
    // every activation input's |values|, for the percentile
    let mut abs: Vec<Vec<f32>> = Vec::new();
    let keep = Keep { act_inputs: true, outputs: true };
    let pass = forward_batches(model, Loader::new(ds, cfg, 0).take(max_batches.max(1)), keep, |s| {
        for (i, (_, v)) in s.act_inputs.iter().enumerate() {
            let data = v.value.to_f32()?.into_iter().map(f32::abs);
            match abs.get_mut(i) {
                Some(all) => all.extend(data),
                None => abs.push(data.collect()),
            }
        }
        Ok(())
    })?;
    if pass.images == 0 {
        return Err(crate::Error::Invalid("no image of the dataset could be read".into()));
    }
    let mut peaks: Vec<f32> = pass.peaks.iter().map(|p| p.abs).collect();
    peaks.sort_by(|a, b| a.total_cmp(b));
    let image_peaks = [quantile(&peaks, 0.5), quantile(&peaks, 0.99), quantile(&peaks, 1.0)];
    let worst_images = beyond(&pass.peaks, 0.0).iter().take(3).map(|p| NamedPeak::of(p, ds, &pass.ranges)).collect();
    let mut max_abs = pass.max_abs_output;
    let acts = pass
        .ranges
        .into_iter()
        .zip(abs)
        .map(|(r, mut abs)| {
            abs.sort_by(|a, b| a.total_cmp(b));
            let p999_abs = quantile(&abs, 0.999);
            max_abs = max_abs.max(r.min.abs()).max(r.max.abs());
            ActStats { name: r.name, min: r.min, max: r.max, p999_abs }
        })
        .collect();
    Ok(DataStats { images: pass.images, acts, max_abs, image_peaks, worst_images })
}

/// The value at fraction `q` of the ascending `sorted` (q = 1: the last; 0 when empty).
fn quantile(sorted: &[f32], q: f64) -> f32 {
    sorted.get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or(0.0)
}
