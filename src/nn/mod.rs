//! Layers and models on top of the tape.

pub mod functional;
