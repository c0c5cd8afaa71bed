//! SqueezeNet 1.0 and 1.1 in torchvision's layout and names (ceil-mode max pools, a 1×1
//! convolution as classifier, global average pooling). A fire module is a block: squeeze 1×1 →
//! act, then the concatenation of two branches, expand 1×1 → act and expand 3×3 → act.

use super::layers::*;
use super::model::{scaled, small_head, Arch, ModelConfig};
use crate::error::Result;
use crate::ops::maxpool::Pool;
use crate::rng::Rng;
use crate::Gpu;

fn fire(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, sq: usize, e1: usize, e3: usize) -> Result<Layer> {
    let mut conv = |part: &str, cin, cout, k, pad| -> Result<Layer> {
        Ok(Layer::Conv(Conv::new(gpu, rng, &format!("{name}.{part}"), cin, cout, k, 1, pad)?))
    };
    let act = |part: &str| Layer::Act(Activation::relu(&format!("{name}.{part}_activation")));
    let squeeze = conv("squeeze", cin, sq, 1, 0)?;
    let expand1 = Layer::block("", "Sequential", vec![conv("expand1x1", sq, e1, 1, 0)?, act("expand1x1")]);
    let expand3 = Layer::block("", "Sequential", vec![conv("expand3x3", sq, e3, 3, 1)?, act("expand3x3")]);
    Ok(Layer::block(name, "Fire", vec![squeeze, act("squeeze"), Layer::branches(Join::Concat, vec![expand1, expand3])]))
}

pub fn build(gpu: &Gpu, rng: &mut Rng, cfg: &ModelConfig) -> Result<Layer> {
    let w = |c| scaled(c, cfg.width);
    let pool = |i: usize| Layer::Pool(Pool2d::new(&format!("features.{i}"), PoolKind::Max(Pool { kernel: 3, stride: 2, pad: 0, ceil: true })));
    let v10 = cfg.arch == Arch::Squeezenet10;
    let conv1 = if v10 { Conv::new(gpu, rng, "features.0", cfg.in_channels, w(96), 7, 2, 0)? } else { Conv::new(gpu, rng, "features.0", cfg.in_channels, w(64), 3, 2, 0)? };
    // (index in `features`, squeeze, expand channels) of each fire module, and where the pools sit
    let fires = if v10 {
        [(3, 16, 64), (4, 16, 64), (5, 32, 128), (7, 32, 128), (8, 48, 192), (9, 48, 192), (10, 64, 256), (12, 64, 256)]
    } else {
        [(3, 16, 64), (4, 16, 64), (6, 32, 128), (7, 32, 128), (9, 48, 192), (10, 48, 192), (11, 64, 256), (12, 64, 256)]
    };
    let pools = if v10 { [2, 6, 11] } else { [2, 5, 8] };
    // channels actually produced so far (rounding of the width multiplier can make
    // 2·w(e) differ from w(2e))
    let mut ch = conv1.out_channels();
    let mut layers = vec![Layer::Conv(conv1), Layer::Act(Activation::relu("features.1"))];
    let mut fires = fires.into_iter();
    for i in 2..=12 {
        if pools.contains(&i) {
            layers.push(pool(i));
        } else if let Some((idx, sq, e)) = fires.next() {
            layers.push(fire(gpu, rng, &format!("features.{idx}"), ch, w(sq), w(e), w(e))?);
            ch = 2 * w(e);
        }
    }
    let mut head = Conv::new(gpu, rng, "classifier.1", ch, cfg.classes, 1, 1, 0)?;
    head.w = small_head(head.w, rng)?;
    layers.extend([
        Layer::Dropout(cfg.dropout),
        Layer::Conv(head),
        Layer::Act(Activation::relu("classifier.2")),
        Layer::Pool(Pool2d::new("classifier.3", PoolKind::GlobalAvg)),
        Layer::Flatten,
    ]);
    Ok(Layer::block("", "SqueezeNet", layers))
}
