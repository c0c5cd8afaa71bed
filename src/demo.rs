//! The demo: synthesise a 2-class dataset, train a small ReLU AlexNet teacher on it, convert it
//! into its HE-friendly student and distil the teacher into it, each phase a resumable run in
//! the same folder.

use crate::data::{synth, Format};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::model::{Arch, ModelConfig, StudentConfig};
use crate::recipe::Recipe;
use crate::train::{Data, Job, Phase, RunFiles, RunResult, Source, Start, StudentJob};
use crate::tune::Tuning;
use std::path::Path;

/// Ready `out` for the demo: with `fresh`, forget both phases' earlier runs; without, refuse a
/// folder with files of another run.
pub fn prepare(out: &Path, fresh: bool) -> Result<()> {
    for phase in [Phase::Teacher, Phase::Student] {
        RunFiles::new(out, phase).prepare(fresh)?;
    }
    Ok(())
}

/// Run the demo in `out` with `epochs` per phase: the teacher's result, then the student's.
pub fn run(gpu: &Gpu, out: &Path, epochs: usize, tuning: &Tuning) -> Result<(RunResult, RunResult)> {
    let data_dir = out.join("data");
    println!("1/3 synthesising a 2-class dataset (64x64 grayscale, labelled synthetic) in {}", data_dir.display());
    synth::generate(&data_dir, 2, 64, (320, 80, 100), 123, 1.5)?;
    let data = Data::open(&Source::lenient(&data_dir, Format::Folder))?;
    let config = ModelConfig { width: 0.25, hidden: 256, ..ModelConfig::new(Arch::Alexnet, data.train.classes.clone(), 1, 64) };
    println!("2/3 training the ReLU teacher (AlexNet, width x0.25, hidden 256)");
    let recipe = Recipe { epochs, batch: 32, ..Recipe::default() };
    let teacher = Job { start: Start::Fresh { config, pretrained: None }, student: None };
    let t = teacher.train(gpu, &data, &recipe, tuning, out)?;
    println!("3/3 converting to the HE-friendly student (avg-pool, BN, trainable x² polynomials) and distilling");
    let student = Job { start: Start::Checkpoint(t.checkpoint.clone()), student: Some(StudentJob::method(StudentConfig::default())) };
    let s = student.train(gpu, &data, &Recipe { lr: 1e-4, clip_value: Some(1.0), ..recipe }, tuning, out)?;
    Ok((t, s))
}
