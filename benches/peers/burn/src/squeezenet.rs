//! SqueezeNet 1.1 in Burn, the twin of `squeezenet("1_1")` in tools/reference/heft_models.py:
//! a 3×3 stride-2 stem, ceil-mode 3×2 pools, eight Fire modules, and a classifier of dropout,
//! a 1×1 convolution, the activation and global average pooling. The student swaps MaxPool for
//! AvgPool, puts BatchNorm after every feature convolution and uses the quadratic activation.

use crate::layers::{scaled, Act, ConvBn, Pool};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;

/// squeeze 1×1 → act, then expand 1×1 and 3×3 (each → act), concatenated on channels.
#[derive(Module, Debug)]
struct Fire {
    squeeze: ConvBn,
    squeeze_act: Act,
    expand1x1: ConvBn,
    expand1x1_act: Act,
    expand3x3: ConvBn,
    expand3x3_act: Act,
}

impl Fire {
    fn new(cin: usize, sq: usize, e: usize, student: bool, device: &Device) -> Self {
        Self {
            squeeze: ConvBn::new(cin, sq, 1, 1, 0, student, device),
            squeeze_act: Act::new(student, device),
            expand1x1: ConvBn::new(sq, e, 1, 1, 0, student, device),
            expand1x1_act: Act::new(student, device),
            expand3x3: ConvBn::new(sq, e, 3, 1, 1, student, device),
            expand3x3_act: Act::new(student, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.squeeze_act.forward(self.squeeze.forward(x));
        let a = self.expand1x1_act.forward(self.expand1x1.forward(x.clone()));
        let b = self.expand3x3_act.forward(self.expand3x3.forward(x));
        Tensor::cat(vec![a, b], 1)
    }
}

#[derive(Module, Debug)]
pub struct SqueezeNet {
    stem: ConvBn,
    stem_act: Act,
    pools: Vec<Pool>,
    fires: Vec<Fire>,
    dropout: Dropout,
    classifier: Conv2d,
    classifier_act: Act,
    global: AdaptiveAvgPool2d,
}

impl SqueezeNet {
    pub fn new(classes: usize, width: f64, student: bool, device: &Device) -> Self {
        let w = |c| scaled(c, width);
        // (in, squeeze, expand) of fire2..fire9; pools before fire2, fire4 and fire6
        let fires = [(64, 16, 64), (128, 16, 64), (128, 32, 128), (256, 32, 128), (256, 48, 192), (384, 48, 192), (384, 64, 256), (512, 64, 256)];
        Self {
            stem: ConvBn::new(1, w(64), 3, 2, 0, student, device),
            stem_act: Act::new(student, device),
            pools: (0..3).map(|_| Pool::new(student, true)).collect(),
            fires: fires.iter().map(|&(i, s, e)| Fire::new(w(i), w(s), w(e), student, device)).collect(),
            dropout: DropoutConfig::new(0.5).init(),
            classifier: Conv2dConfig::new([w(512), classes], [1, 1]).init(device),
            classifier_act: Act::new(student, device),
            global: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem_act.forward(self.stem.forward(x));
        for (i, fire) in self.fires.iter().enumerate() {
            if matches!(i, 0 | 2 | 4) {
                x = self.pools[i / 2].forward(x);
            }
            x = fire.forward(x);
        }
        let x = self.classifier_act.forward(self.classifier.forward(self.dropout.forward(x)));
        self.global.forward(x).flatten(1, 3)
    }
}
