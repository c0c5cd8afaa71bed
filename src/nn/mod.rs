//! Layers and models on top of the tape.

pub mod convert;
pub mod checkpoint;
pub mod functional;
pub mod layers;
pub mod model;
pub mod summary;
