//! Commands for the encrypted side: `he-report` (can this student run under CKKS?) and `export` (ONNX).

use super::args::*;
use super::data::*;
use super::gpu;
use clap::Args;
use heft::nn::checkpoint;
use heft::train::Data;
use heft::{Error, Result};
use std::path::PathBuf;

/// Can this student run under CKKS? HE-unfriendly layers, multiplicative depth per layer,
/// activation input ranges over data, and CKKS parameters for 128-bit security.
#[derive(Args)]
pub struct HeReport {
    /// The student checkpoint (student.safetensors with student.json beside it).
    pub model: PathBuf,
    /// Dataset whose test split (or --split) gives the observed ranges.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Folder)]
    pub format: Format,
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Batches of 32 images to observe.
    #[arg(long, default_value_t = 8)]
    pub batches: usize,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

impl HeReport {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref model, ref data, format, split, batches, json } = *self;
        let gpu = gpu(adapter)?;
        let m = checkpoint::load(&gpu, model)?;
        let stats = match data {
            Some(root) => {
                let d = Data::open(&Source::lenient(root, format))?;
                Some(heft::he::observe(&m, &split_of(&d, split), d.norm, 32, batches)?)
            }
            None => None,
        };
        let report = heft::he::report::report(&m, stats);
        if json {
            println!("{}", serde_json::to_string_pretty(&report).map_err(|e| Error::Invalid(e.to_string()))?);
        } else {
            print!("{}", heft::he::report::format(&report));
        }
        Ok(())
    }
}

/// Write the student as ONNX (Conv, Gemm, Mul, Add, AveragePool, Flatten, Concat; batch norm
/// folded, polynomials as Mul/Add) for an HE runtime.
#[derive(Args)]
pub struct Export {
    /// The student checkpoint.
    pub model: PathBuf,
    /// Where to write the ONNX file.
    #[arg(long)]
    pub onnx: PathBuf,
    /// Also write <onnx>.sample.safetensors: N test images of --data (a fixed shuffle of the
    /// test split), their labels and heft's logits for them (tools/he/ compares ONNX runtimes
    /// and encrypted inference against it).
    #[arg(long, default_value_t = 0)]
    pub samples: usize,
    /// Dataset the --samples images come from (its test split, in the model's input format).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Folder)]
    pub format: Format,
}

impl Export {
    pub fn run(&self, adapter: &Option<String>) -> Result<()> {
        let Self { ref model, ref onnx, samples, ref data, format } = *self;
        // check everything before writing anything
        let sample_path = PathBuf::from(format!("{}.sample.safetensors", onnx.display()));
        let sample_data = match (samples, data) {
            (0, _) => None,
            (_, None) => return Err(Error::Invalid("--samples needs --data".into())),
            (_, Some(root)) => Some(root),
        };
        for p in std::iter::once(onnx).chain(sample_data.map(|_| &sample_path)) {
            if p.exists() {
                return Err(Error::Invalid(format!("{} already exists; choose another path", p.display())));
            }
        }
        let gpu = gpu(adapter)?;
        let m = checkpoint::load(&gpu, model)?;
        let onnx_out = heft::he::onnx::export(&m)?;
        let bytes = &onnx_out.bytes;
        // the sample first: if it fails, nothing is left behind to block a re-run
        let sampled = match sample_data {
            Some(root) => {
                let d = Data::open(&Source::lenient(root, format))?;
                Some(heft::he::sample::write_sample(&m, &d.test, d.norm, samples, &sample_path)?)
            }
            None => None,
        };
        // write_new: never replace a file that appeared since the check above
        if let Err(e) = heft::fsx::write_new(onnx, bytes) {
            if sampled.is_some() {
                let _ = std::fs::remove_file(&sample_path); // written just above, by this run
            }
            return Err(e);
        }
        println!("wrote {} ({} bytes; operators: {})", onnx.display(), bytes.len(), onnx_out.ops.join(", "));
        if onnx_out.fires_merged > 0 {
            let n = onnx_out.fires_merged;
            println!("{n} fire modules' expand branches merged into one convolution each: {n} Conv, {n} activations and {n} Concat nodes fewer, the same depth");
        }
        if let Some(n) = sampled {
            println!("wrote {} ({n} test images and heft's logits)", sample_path.display());
        }
        Ok(())
    }
}

