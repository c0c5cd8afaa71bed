//! Which images of a dataset a command uses.

use super::args::Split;
use heft::data::Dataset;
use heft::train::Data;

/// The images of `split`; `All` is every split together.
pub fn split_of(d: &Data, split: Split) -> Dataset {
    match split {
        Split::Train => d.train.clone(),
        Split::Val => d.val.clone(),
        Split::Test => d.test.clone(),
        Split::All => Dataset::concat(&[&d.train, &d.val, &d.test]),
    }
}
