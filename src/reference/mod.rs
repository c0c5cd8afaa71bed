//! Plain-Rust CPU reference of every kernel, in f64, written independently of the WGSL (direct
//! loops over the mathematical definition, no im2col, no tiling). Tests and `heft check` compare
//! the GPU against these; the finite-difference gradient checks run on them too.

pub mod avgpool;
pub mod batchnorm;
pub mod col2im;
pub mod concat;
pub mod confusion;
pub mod conv2d;
pub mod cross_entropy;
pub mod distill;
pub mod dropout;
pub mod elementwise;
pub mod gemm_strided;
pub mod im2col;
pub mod linear;
pub mod matmul;
pub mod maxpool;
pub mod optim;
pub mod pack;
pub mod quad;
pub mod range;
pub mod reduce;
pub mod relu;
