//! AlexNet as the paper's reference builds it: torchvision's layer layout and names, conv1
//! padding configurable (AlexNet-FHE uses 5), no adaptive pooling (the classifier takes whatever
//! the features give at this input size), widths scaled by `width`, hidden size `hidden`. With
//! `batchnorm` each max pool is followed by a BatchNorm `<pool>.bn`, where (and as) the student
//! conversion would insert it.

use super::layers::*;
use super::model::{scaled, small_head, ModelConfig};
use crate::error::{Error, Result};
use crate::ops::maxpool::Pool;
use crate::rng::Rng;
use crate::Gpu;

pub fn build(gpu: &Gpu, rng: &mut Rng, cfg: &ModelConfig) -> Result<Layer> {
    let w = |c| scaled(c, cfg.width);
    let (c1, c2, c3, c4, c5) = (w(64), w(192), w(384), w(256), w(256));
    let conv = |rng: &mut Rng, i: usize, cin, cout, k, stride, pad| -> Result<Layer> {
        Ok(Layer::Conv(Conv::new(gpu, rng, &format!("features.{i}"), cin, cout, k, stride, pad)?))
    };
    let act = |i: usize| Layer::Act(Activation::relu(&format!("features.{i}")));
    let pool = |i: usize, c: usize| -> Result<Vec<Layer>> {
        let name = format!("features.{i}");
        let mut layers = vec![Layer::Pool(Pool2d::new(&name, PoolKind::Max(Pool::new(3, 2))))];
        if cfg.batchnorm {
            layers.push(Layer::BatchNorm(BatchNorm::new(gpu, &format!("{name}.bn"), c)?));
        }
        Ok(layers)
    };
    let mut features = vec![conv(rng, 0, cfg.in_channels, c1, 11, 4, cfg.conv1_pad)?, act(1)];
    features.extend(pool(2, c1)?);
    features.extend([conv(rng, 3, c1, c2, 5, 1, 2)?, act(4)]);
    features.extend(pool(5, c2)?);
    features.extend([
        conv(rng, 6, c2, c3, 3, 1, 1)?,
        act(7),
        conv(rng, 8, c3, c4, 3, 1, 1)?,
        act(9),
        conv(rng, 10, c4, c5, 3, 1, 1)?,
        act(11),
    ]);
    features.extend(pool(12, c5)?);
    // classifier input: what the features give at this input size (256·6·6 at 224 px)
    let s = features
        .iter()
        .try_fold(vec![1, cfg.in_channels, cfg.input, cfg.input], |s, l| l.out_shape(&s))
        .map_err(|e| Error::Invalid(format!("AlexNet cannot take {} px input: {e}", cfg.input)))?;
    let flat: usize = s[1..].iter().product();
    let relu = |name: &str| Layer::Act(Activation::relu(name));
    let classifier = [
        Layer::Flatten,
        Layer::Dropout(cfg.dropout),
        Layer::Linear(Linear::new(gpu, rng, "classifier.1", flat, cfg.hidden)?),
        relu("classifier.2"),
        Layer::Dropout(cfg.dropout),
        Layer::Linear(Linear::new(gpu, rng, "classifier.4", cfg.hidden, cfg.hidden)?),
        relu("classifier.5"),
    ];
    let mut head = Linear::new(gpu, rng, "classifier.6", cfg.hidden, cfg.classes)?;
    head.w = small_head(head.w, rng)?;
    let layers = features.into_iter().chain(classifier).chain([Layer::Linear(head)]).collect();
    Ok(Layer::block("", "AlexNet", layers))
}
