//! Every kernel against its CPU reference on random inputs (odd sizes, stride > 1, padding,
//! batch 1 and > 1), and finite-difference checks of the reference gradients (f64).

mod common;

#[path = "kernels/matmul.rs"]
mod matmul;
#[path = "kernels/conv2d.rs"]
mod conv2d;
#[path = "kernels/linear.rs"]
mod linear;
#[path = "kernels/pool.rs"]
mod pool;
#[path = "kernels/act.rs"]
mod act;
#[path = "kernels/batchnorm.rs"]
mod batchnorm;
#[path = "kernels/misc.rs"]
mod misc;
#[path = "kernels/loss.rs"]
mod loss;
#[path = "kernels/optim.rs"]
mod optim;
#[path = "kernels/limits.rs"]
mod limits;
