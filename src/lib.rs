//! heft — HE-Friendly Training: a GPU-native (wgpu/WGSL) training engine for networks that can
//! later run under homomorphic encryption (CKKS).
//!
//! Layers: `gpu` (device, pipelines, buffer pool, batched dispatch) → `tensor` (GPU tensors) →
//! `ops` (one wrapper per WGSL kernel, forward and backward) → `tape` (autograd).
//! `reference` holds a plain-Rust CPU version of every kernel, for tests and `heft check`.

pub mod bench;
pub mod check;
pub mod data;
pub mod demo;
pub mod error;
pub mod experiment;
pub mod fsx;
pub mod gpu;
pub mod he;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod predict;
pub mod profile;
pub mod recipe;
pub mod reference;
pub mod report;
pub mod rng;
pub mod safetensors_file;
pub mod step;
pub mod tape;
pub mod tensor;
pub mod tune;
pub mod train;

pub use error::{Error, Result};
pub use gpu::{AdapterChoice, Gpu};
pub use tensor::{DType, Tensor};
