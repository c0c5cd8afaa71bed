//! Layers shared by the Burn twins of heft's models (tools/reference/heft_models.py): the
//! activation (ReLU for a teacher, the student's trainable quadratic), the pooling choice and a
//! convolution with an optional BatchNorm.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// heft's channel scaling: `max(1, round(c * width))` with Python's round-half-to-even.
pub fn scaled(c: usize, width: f64) -> usize {
    ((c as f64 * width).round_ties_even() as usize).max(1)
}

/// The student's activation: c0 + c1·x + c2·x², coefficients trained (parameter `coef`).
#[derive(Module, Debug)]
pub struct Poly {
    pub coef: Param<Tensor<1>>,
}

impl Poly {
    fn new(device: &Device) -> Self {
        Self { coef: Param::from_tensor(Tensor::from_floats([0.0, 0.5, 0.05], device)) }
    }

    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let c = self.coef.val();
        let at = |i: usize| c.clone().slice([i..i + 1]).unsqueeze::<D>();
        (x.clone() * at(2) + at(1)) * x + at(0)
    }
}

/// ReLU (teacher) or the trainable quadratic (student).
#[derive(Module, Debug)]
pub enum Act {
    Relu(Relu),
    Poly(Poly),
}

impl Act {
    pub fn new(student: bool, device: &Device) -> Self {
        if student {
            Act::Poly(Poly::new(device))
        } else {
            Act::Relu(Relu::new())
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Act::Relu(r) => r.forward(x),
            Act::Poly(p) => p.forward(x),
        }
    }
}

/// A 3×2 pooling window: max for a teacher, average for a student (HE has no max).
#[derive(Module, Debug)]
pub enum Pool {
    Max(MaxPool2d),
    Avg(AvgPool2d),
}

impl Pool {
    pub fn new(student: bool, ceil_mode: bool) -> Self {
        if student {
            Pool::Avg(AvgPool2dConfig::new([3, 3]).with_strides([2, 2]).with_ceil_mode(ceil_mode).init())
        } else {
            Pool::Max(MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).with_ceil_mode(ceil_mode).init())
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Pool::Max(p) => p.forward(x),
            Pool::Avg(p) => p.forward(x),
        }
    }
}

/// A square convolution (stride, symmetric padding), followed by BatchNorm when `bn`.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: Option<BatchNorm>,
}

impl ConvBn {
    pub fn new(cin: usize, cout: usize, k: usize, stride: usize, pad: usize, bn: bool, device: &Device) -> Self {
        let conv = Conv2dConfig::new([cin, cout], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init(device);
        Self { conv, bn: bn.then(|| BatchNormConfig::new(cout).init(device)) }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        }
    }
}
