//! AlexNet-FHE in Burn, the twin of `alexnet()` in tools/reference/heft_models.py: five
//! convolutions (conv1 11×11 stride 4 padding 5), three 3×2 pools, two hidden fully-connected
//! layers of `hidden` units with dropout 0.5. `width` scales the channels. The student swaps
//! MaxPool for AvgPool with BatchNorm after each pool and every ReLU for the quadratic.

use crate::layers::{scaled, Act, ConvBn, Pool};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;

/// A pool, followed by BatchNorm in the student.
#[derive(Module, Debug)]
struct PoolBn {
    pool: Pool,
    bn: Option<BatchNorm>,
}

impl PoolBn {
    fn new(channels: usize, student: bool, device: &Device) -> Self {
        Self { pool: Pool::new(student, false), bn: student.then(|| BatchNormConfig::new(channels).init(device)) }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.pool.forward(x);
        match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        }
    }
}

#[derive(Module, Debug)]
pub struct AlexNet {
    convs: Vec<ConvBn>,
    acts: Vec<Act>,
    pools: Vec<PoolBn>,
    dropout: Dropout,
    fcs: Vec<Linear>,
    fc_acts: Vec<Act>,
}

/// Output side of a convolution or pool window (floor mode).
fn out(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    (size + 2 * pad - k) / stride + 1
}

impl AlexNet {
    pub fn new(classes: usize, size: usize, width: f64, hidden: usize, student: bool, device: &Device) -> Self {
        let ch = [1, scaled(64, width), scaled(192, width), scaled(384, width), scaled(256, width), scaled(256, width)];
        // (kernel, stride, padding) of conv1..conv5
        let geometry = [(11, 4, 5), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1)];
        let convs = (0..5).map(|i| {
            let (k, s, p) = geometry[i];
            ConvBn::new(ch[i], ch[i + 1], k, s, p, false, device)
        });
        // the classifier's input: what the features leave of `size` (pools after conv1, 2 and 5)
        let mut side = size;
        for (i, &(k, s, p)) in geometry.iter().enumerate() {
            side = out(side, k, s, p);
            if matches!(i, 0 | 1 | 4) {
                side = out(side, 3, 2, 0);
            }
        }
        let flat = ch[5] * side * side;
        Self {
            convs: convs.collect(),
            acts: (0..5).map(|_| Act::new(student, device)).collect(),
            pools: [ch[1], ch[2], ch[5]].iter().map(|&c| PoolBn::new(c, student, device)).collect(),
            dropout: DropoutConfig::new(0.5).init(),
            fcs: [(flat, hidden), (hidden, hidden), (hidden, classes)]
                .iter()
                .map(|&(i, o)| LinearConfig::new(i, o).init(device))
                .collect(),
            fc_acts: (0..2).map(|_| Act::new(student, device)).collect(),
        }
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<2> {
        let mut pools = self.pools.iter();
        for (i, (conv, act)) in self.convs.iter().zip(&self.acts).enumerate() {
            x = act.forward(conv.forward(x));
            if matches!(i, 0 | 1 | 4) {
                x = pools.next().expect("three pools").forward(x);
            }
        }
        let mut h: Tensor<2> = x.flatten(1, 3);
        for (fc, act) in self.fcs.iter().zip(&self.fc_acts) {
            h = act.forward(fc.forward(self.dropout.forward(h)));
        }
        self.fcs[2].forward(h)
    }
}
