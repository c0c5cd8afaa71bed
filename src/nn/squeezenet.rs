//! SqueezeNet 1.0 and 1.1 in torchvision's layout and names (ceil-mode max pools, a 1×1
//! convolution as classifier, global average pooling). A fire module is a block: squeeze 1×1 →
//! act, then the concatenation of two branches, expand 1×1 → act and expand 3×3 → act. With
//! `batchnorm` every feature convolution is followed by a BatchNorm `<conv>.bn`, where (and as)
//! the student conversion would insert it (SqueezeNet-FHE's optional BN).

use super::layers::*;
use super::model::{scaled, small_head, Arch, ModelConfig};
use crate::error::Result;
use crate::ops::maxpool::Pool;
use crate::rng::Rng;
use crate::Gpu;

/// A feature convolution, with its batch norm `<name>.bn` after it when `bn`.
#[allow(clippy::too_many_arguments)]
fn conv(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, cout: usize, k: usize, stride: usize, pad: usize, bn: bool) -> Result<Vec<Layer>> {
    let mut layers = vec![Layer::Conv(Conv::new(gpu, rng, name, cin, cout, k, stride, pad)?)];
    if bn {
        layers.push(Layer::BatchNorm(BatchNorm::new(gpu, &format!("{name}.bn"), cout)?));
    }
    Ok(layers)
}

#[allow(clippy::too_many_arguments)]
fn fire(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, sq: usize, e1: usize, e3: usize, bn: bool) -> Result<Layer> {
    let mut conv_act = |part: &str, cin, cout, k, pad| -> Result<Vec<Layer>> {
        let mut layers = conv(gpu, rng, &format!("{name}.{part}"), cin, cout, k, 1, pad, bn)?;
        layers.push(Layer::Act(Activation::relu(&format!("{name}.{part}_activation"))));
        Ok(layers)
    };
    let mut layers = conv_act("squeeze", cin, sq, 1, 0)?;
    let expand1 = Layer::block("", "Sequential", conv_act("expand1x1", sq, e1, 1, 0)?);
    let expand3 = Layer::block("", "Sequential", conv_act("expand3x3", sq, e3, 3, 1)?);
    layers.push(Layer::branches(Join::Concat, vec![expand1, expand3]));
    Ok(Layer::block(name, "Fire", layers))
}

pub fn build(gpu: &Gpu, rng: &mut Rng, cfg: &ModelConfig) -> Result<Layer> {
    let w = |c| scaled(c, cfg.width);
    let pool = |i: usize| Layer::Pool(Pool2d::new(&format!("features.{i}"), PoolKind::Max(Pool { kernel: 3, stride: 2, pad: 0, ceil: true })));
    let v10 = cfg.arch == Arch::Squeezenet10;
    let (c1, k1) = if v10 { (w(96), 7) } else { (w(64), 3) };
    // (index in `features`, squeeze, expand channels) of each fire module, and where the pools sit
    let fires = if v10 {
        [(3, 16, 64), (4, 16, 64), (5, 32, 128), (7, 32, 128), (8, 48, 192), (9, 48, 192), (10, 64, 256), (12, 64, 256)]
    } else {
        [(3, 16, 64), (4, 16, 64), (6, 32, 128), (7, 32, 128), (9, 48, 192), (10, 48, 192), (11, 64, 256), (12, 64, 256)]
    };
    let pools = if v10 { [2, 6, 11] } else { [2, 5, 8] };
    // channels actually produced so far (rounding of the width multiplier can make
    // 2·w(e) differ from w(2e))
    let mut ch = c1;
    let mut layers = conv(gpu, rng, "features.0", cfg.in_channels, c1, k1, 2, 0, cfg.batchnorm)?;
    layers.push(Layer::Act(Activation::relu("features.1")));
    let mut fires = fires.into_iter();
    for i in 2..=12 {
        if pools.contains(&i) {
            layers.push(pool(i));
        } else if let Some((idx, sq, e)) = fires.next() {
            layers.push(fire(gpu, rng, &format!("features.{idx}"), ch, w(sq), w(e), w(e), cfg.batchnorm)?);
            ch = 2 * w(e);
        }
    }
    let mut head = Conv::new(gpu, rng, "classifier.1", ch, cfg.classes, 1, 1, 0)?;
    head.w = small_head(head.w, rng)?;
    // The logits pass through a ReLU, and the head reads non-negative features with a large
    // common mean, so a class's output has the sign of its weights' sum for nearly every image.
    // With a zero bias a class can start (or soon go) dead, its logit 0 for every image, and the
    // net then predicts one class for good: heft's seed 123 on the CT slices, in heft and in
    // PyTorch from the same weights; in PyTorch with this initialisation, 1 seed in 10 with
    // batch norm and 4 in 4 without (RESULTS.md). A bias of 1 starts every class alive (0 dead
    // in 10 and in 4), as Krizhevsky et al. (2012) started ReLU biases at 1 "to provide the
    // ReLUs with positive inputs".
    if let Some(b) = &head.b {
        b.value.write_f32(&vec![1.0; cfg.classes])?;
    }
    layers.extend([
        Layer::Dropout(cfg.dropout),
        Layer::Conv(head),
        Layer::Act(Activation::relu("classifier.2")),
        Layer::Pool(Pool2d::new("classifier.3", PoolKind::GlobalAvg)),
        Layer::Flatten,
    ]);
    Ok(Layer::block("", "SqueezeNet", layers))
}
