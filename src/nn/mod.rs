//! Layers and models on top of the tape: leaf layers, the layer tree and its forward pass, the
//! architectures, the teacher → student conversion, checkpoints, the summary, and the one
//! eval-mode pass over data.

pub mod alexnet;
pub mod checkpoint;
pub mod convert;
pub mod eval;
pub mod fold;
pub mod forward;
pub mod functional;
pub mod layers;
pub mod linearise;
pub mod model;
pub mod rebuild;
pub mod resnet;
pub mod squeezenet;
pub mod summary;
pub mod tree;
