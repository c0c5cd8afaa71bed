//! ResNet-20 for 32×32 images (He et al. 2016, §4.2): a 3×3 convolution with 16 channels, three
//! stages of three basic blocks (16, 32, 64 channels; the first block of stages 2 and 3 halves
//! the resolution), global average pooling and a linear classifier. A basic block is
//! conv3×3 → BN → act → conv3×3 → BN, added to its shortcut, then act. Where the shape changes the
//! shortcut is a strided 1×1 convolution with BN (the paper's option B); elsewhere the identity.
//! Convolutions have no bias (batch norm follows each). The teacher already has batch norm, so
//! its student only swaps the activations. Names follow the usual PyTorch CIFAR layout
//! (`layer2.0.conv1`, `layer2.0.shortcut.0`, `fc`).

use super::layers::*;
use super::model::{scaled, small_head, ModelConfig};
use crate::error::Result;
use crate::rng::Rng;
use crate::Gpu;

#[allow(clippy::too_many_arguments)]
fn conv_bn(gpu: &Gpu, rng: &mut Rng, conv: &str, bn: &str, cin: usize, cout: usize, k: usize, stride: usize) -> Result<[Layer; 2]> {
    Ok([
        Layer::Conv(Conv::without_bias(gpu, rng, conv, cin, cout, k, stride, k / 2)?),
        Layer::BatchNorm(BatchNorm::new(gpu, bn, cout)?),
    ])
}

fn basic_block(gpu: &Gpu, rng: &mut Rng, name: &str, cin: usize, cout: usize, stride: usize) -> Result<Layer> {
    let n = |part: &str| format!("{name}.{part}");
    let mut body: Vec<Layer> = conv_bn(gpu, rng, &n("conv1"), &n("bn1"), cin, cout, 3, stride)?.into();
    body.push(Layer::Act(Activation::relu(&n("act1"))));
    body.extend(conv_bn(gpu, rng, &n("conv2"), &n("bn2"), cout, cout, 3, 1)?);
    let shortcut = if stride != 1 || cin != cout {
        conv_bn(gpu, rng, &n("shortcut.0"), &n("shortcut.1"), cin, cout, 1, stride)?.into()
    } else {
        vec![]
    };
    let residual = Layer::branches(Join::Add, vec![Layer::block("", "Sequential", body), Layer::block(&n("shortcut"), "Shortcut", shortcut)]);
    Ok(Layer::block(name, "BasicBlock", vec![residual, Layer::Act(Activation::relu(&n("act2")))]))
}

pub fn build(gpu: &Gpu, rng: &mut Rng, cfg: &ModelConfig) -> Result<Layer> {
    let w = |c| scaled(c, cfg.width);
    let mut layers: Vec<Layer> = conv_bn(gpu, rng, "conv1", "bn1", cfg.in_channels, w(16), 3, 1)?.into();
    layers.push(Layer::Act(Activation::relu("act1")));
    let mut cin = w(16);
    for (stage, channels) in [16, 32, 64].into_iter().enumerate() {
        for i in 0..3 {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            layers.push(basic_block(gpu, rng, &format!("layer{}.{i}", stage + 1), cin, w(channels), stride)?);
            cin = w(channels);
        }
    }
    let mut fc = Linear::new(gpu, rng, "fc", cin, cfg.classes)?;
    fc.w = small_head(fc.w, rng)?;
    layers.extend([Layer::Pool(Pool2d::new("avgpool", PoolKind::GlobalAvg)), Layer::Flatten, Layer::Linear(fc)]);
    Ok(Layer::block("", "ResNet-20", layers))
}
