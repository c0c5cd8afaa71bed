//! The `heft` command line: data synthesis, teacher and student training, evaluation, model
//! summaries, the end-to-end demo, and kernel benchmarks.

use clap::{Args, Parser, Subcommand, ValueEnum};
use heft::data::{has_split_folders, image::Normalize, open_splits, synth, Dataset};
use heft::nn::checkpoint::{self, LoadMode};
use heft::nn::convert::{to_student, Schedule};
use heft::nn::layers::ActKind;
use heft::nn::model::{Arch, Model, ModelConfig, StudentConfig};
use heft::optim::Clip;
use heft::predict;
use heft::report::metrics::format_summary;
use heft::train::{self, Data, Recipe, RunResult};
use heft::{AdapterChoice, Error, Gpu, Result};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "heft", version, about = "HE-Friendly Training: GPU-native training of networks that run under CKKS")]
struct Cli {
    /// Use the adapter whose name contains this text (case-insensitive); default: the
    /// high-performance adapter. WGPU_ADAPTER_NAME and WGPU_BACKEND are honoured too.
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Synthesise a dataset, train a small teacher, distil its HE-friendly student, compare.
    Demo {
        /// Output folder (default runs/demo-<UTC time>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Epochs of each phase.
        #[arg(long, default_value_t = 12)]
        epochs: usize,
        #[command(flatten)]
        tune: TuneArgs,
    },
    /// Write a synthetic chest-scan-like dataset (folder per class, train/val/test).
    Synth {
        /// Folder to write (train/, val/, test/ with a folder per class): new, empty, or an earlier
        /// synthetic dataset (replaced).
        #[arg(long)]
        out: PathBuf,
        /// Number of classes, 2 or 3 (0_normal, 1_lesion, 2_diffuse).
        #[arg(long, default_value_t = 2)]
        classes: usize,
        /// Image side in pixels, 16 to 4096 (grayscale PNG).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Images per class in the train split.
        #[arg(long, default_value_t = 300)]
        train: usize,
        /// Images per class in the val split.
        #[arg(long, default_value_t = 60)]
        val: usize,
        /// Images per class in the test split.
        #[arg(long, default_value_t = 60)]
        test: usize,
        /// Seed of the generator (same seed, same images).
        #[arg(long, default_value_t = 123)]
        seed: u64,
        /// How strongly the classes show (1 = default task; larger is easier).
        #[arg(long, default_value_t = 1.0)]
        strength: f32,
    },
    /// Train the ReLU teacher.
    TrainTeacher {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        recipe: RecipeArgs,
        /// Start from a torchvision-named safetensors file (e.g. ImageNet AlexNet); tensors that
        /// do not fit (head, input size) keep their fresh values and are reported.
        #[arg(long)]
        pretrained: Option<PathBuf>,
        #[command(flatten)]
        tune: TuneArgs,
    },
    /// Convert a teacher into its HE-friendly student and distil the teacher into it.
    TrainStudent {
        /// The teacher checkpoint (teacher.safetensors with teacher.json beside it).
        #[arg(long)]
        teacher: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        student: StudentArgs,
        #[command(flatten)]
        recipe: RecipeArgs,
        #[command(flatten)]
        tune: TuneArgs,
    },
    /// Evaluate a checkpoint: accuracy, per-class precision/recall/F1, confusion matrix.
    Eval {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Images to score (default: test; every image when --data has no train/val/test split,
        /// e.g. an external test set).
        #[arg(long, value_enum)]
        split: Option<Split>,
        #[arg(long, default_value_t = 32)]
        batch: usize,
    },
    /// Predict the class of every image: one row per image with its path, predicted class and
    /// the probability of each class; a summary (and unreadable files) on the console.
    Predict {
        /// The checkpoint, teacher or student (its JSON config beside it says which).
        #[arg(long)]
        model: PathBuf,
        /// Image files, or folders searched recursively for .png/.jpg/.jpeg.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Write the predictions to this new file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace --out if it exists.
        #[arg(long)]
        overwrite: bool,
        #[arg(long, value_enum, default_value_t = PredictFormat::Csv)]
        format: PredictFormat,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Skip truncated image files (listed as unreadable) instead of using them with a warning.
        #[arg(long)]
        strict: bool,
    },
    /// Layers, output shapes, parameters, FLOPs and activation count of a model.
    Summary {
        /// Summarise this checkpoint instead of a fresh model.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        fresh: FreshModelArgs,
    },
    /// Compare heft with PyTorch golden files (and the CPU reference on random shapes) on this
    /// adapter: a table of errors and tolerances, then `N passed, M failed`.
    Check {
        /// Also compare against the CPU reference on N rounds of fresh random shapes.
        #[arg(long, default_value_t = 0)]
        random: usize,
        #[arg(long, default_value_t = 123)]
        seed: u64,
        /// Compare a whole model dumped from PyTorch (format: data/reference/README.md) instead
        /// of the shipped golden files.
        #[arg(long)]
        against: Option<PathBuf>,
        /// Also write the table as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Can this student run under CKKS? HE-unfriendly layers, multiplicative depth per layer,
    /// activation input ranges over data, and CKKS parameters for 128-bit security.
    HeReport {
        /// The student checkpoint (student.safetensors with student.json beside it).
        model: PathBuf,
        /// Dataset whose test split (or --split) gives the observed ranges.
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Folder)]
        format: Format,
        #[arg(long, value_enum, default_value_t = Split::Test)]
        split: Split,
        /// Batches of 32 images to observe.
        #[arg(long, default_value_t = 8)]
        batches: usize,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Write the student as ONNX (Conv, Gemm, Mul, Add, AveragePool, Flatten, Concat; batch norm
    /// folded, polynomials as Mul/Add) for an HE runtime.
    Export {
        /// The student checkpoint.
        model: PathBuf,
        /// Where to write the ONNX file.
        #[arg(long)]
        onnx: PathBuf,
        /// Also write <onnx>.sample.safetensors: N test images of --data and heft's logits for
        /// them (tools/he/check_onnx.py compares an ONNX runtime against it).
        #[arg(long, default_value_t = 0)]
        samples: usize,
        /// Dataset the --samples images come from (its test split, in the model's input format).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Folder)]
        format: Format,
    },
    /// GPU time per kernel of one training step (timestamp queries) on random data: a table of
    /// kernels with calls and milliseconds per step, longest first.
    Profile {
        #[command(flatten)]
        fresh: FreshModelArgs,
        /// Images per step (random data).
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Profiled steps (after one warm-up step); figures are per-step means.
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// Also write every profiled dispatch as a Chrome/Perfetto trace (open it in
        /// ui.perfetto.dev or chrome://tracing).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        #[command(flatten)]
        tune: TuneArgs,
    },
    /// Time every GEMM variant this adapter runs on the GEMM shapes of a model's training step
    /// and cache the fastest per shape (training then uses it). Prints one row per shape.
    Tune {
        #[command(flatten)]
        fresh: FreshModelArgs,
        /// Images per step.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Timed samples per variant and shape (the median is kept).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Time every shape again, even those already in the cache.
        #[arg(long)]
        again: bool,
        /// Cache folder (default: $HEFT_CACHE_DIR, else $XDG_CACHE_HOME/heft, else ~/.cache/heft).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// List the GPU adapters wgpu can see.
    Adapters,
    /// GFLOP/s of every GEMM variant (1024³) and of conv2d forward/backward at AlexNet's
    /// conv1–conv5 shapes; with --steps, whole training steps (and --compare: beside PyTorch).
    Bench {
        /// Timed runs per kernel or step (the median is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Batch size of the convolution benchmarks.
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// Time training steps of AlexNet-FHE (64/112 px, width 0.5/1.0) and SqueezeNet 1.1
        /// (112 px), teacher and student, instead of kernels.
        #[arg(long)]
        steps: bool,
        /// With --steps: only the AlexNet x0.5 64 px pair.
        #[arg(long)]
        quick: bool,
        /// With --steps: time the same steps in PyTorch on this machine
        /// (benches/peers/torch_step.py) and print heft/PyTorch ratios.
        #[arg(long)]
        compare: bool,
        /// Python interpreter with torch, for --compare.
        #[arg(long, default_value = "python3")]
        python: String,
        #[command(flatten)]
        tune: TuneArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Split {
    Train,
    Val,
    Test,
    /// Every image of the dataset (all splits together).
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum PredictFormat {
    /// `path,predicted,<class>...` with one probability column per class
    Csv,
    /// `{"classes", "predictions": [{"path", "predicted", "probabilities"}], "unreadable"}`
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// root/{train,val,test}/<class>/*.png|jpg, or root/<class>/... (split 70/15/15)
    Folder,
    /// COVIDx CXR: root/<split>_split.txt (`patient_id filename label source`), images in root/<split>/
    Cxr,
    /// COVIDx CT-2A: root/<split>_COVIDx_CT-2A.txt (`filename class xmin ymin xmax ymax`), images in root/2A_images/
    Ct,
}

#[derive(Args)]
struct DataArgs {
    /// Dataset root.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Folder)]
    format: Format,
    /// Image folder for the label-file formats (default: see --format).
    #[arg(long)]
    images: Option<PathBuf>,
    /// Stop at the first unreadable or truncated image instead of skipping it (truncated files
    /// are otherwise used, with a warning, as the decoder fills them in).
    #[arg(long)]
    strict: bool,
    /// Seed of the split (when the dataset has none), shuffling, augmentation and init.
    #[arg(long, default_value_t = 123)]
    seed: u64,
}

/// A freshly initialised model (summary, profile).
#[derive(Args)]
struct FreshModelArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Number of output classes.
    #[arg(long, default_value_t = 2)]
    classes: usize,
    /// The HE-friendly student of the model (profile: its distillation step, the teacher's
    /// forward included) instead of the ReLU teacher.
    #[arg(long)]
    student: bool,
}

impl FreshModelArgs {
    fn config(&self) -> ModelConfig {
        model_config(&self.model, (0..self.classes).map(|i| format!("class{i}")).collect())
    }
}

/// How the GEMM variant of each shape is chosen (see `heft tune`).
#[derive(Args)]
struct TuneArgs {
    /// Do not load or make a tuning cache: every GEMM uses the static choice for this kind of
    /// adapter.
    #[arg(long)]
    no_tune: bool,
    /// Tuning cache folder (default: $HEFT_CACHE_DIR, else $XDG_CACHE_HOME/heft, else
    /// ~/.cache/heft).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
}

impl TuneArgs {
    /// Use this adapter's cached GEMM choices, first timing the shapes of this model's step
    /// that the cache lacks (one line says so); nothing with --no-tune.
    fn apply(&self, gpu: &Gpu, cfg: ModelConfig, student: Option<StudentConfig>, batch: usize) -> Result<()> {
        if self.no_tune {
            return Ok(());
        }
        let Some(dir) = self.cache.clone().or_else(heft::tune::default_dir) else {
            eprintln!("GEMM tuning: no cache folder (set HEFT_CACHE_DIR or pass --cache); using the static choice");
            return Ok(());
        };
        let shapes = heft::tune::step_shapes(gpu, cfg, student, batch)?;
        let announce = |n: usize, path: &Path| eprintln!("tuning the GEMM for {n} new shapes on this adapter (once; cached in {})", path.display());
        heft::tune::ensure(gpu, &dir, &shapes, 3, announce, |_| {})?;
        Ok(())
    }
}

#[derive(Args)]
struct ModelArgs {
    #[arg(long = "model", value_enum, default_value_t = Arch::Alexnet)]
    arch: Arch,
    /// Input size in pixels (images are resized to it).
    #[arg(long, default_value_t = 64)]
    input: usize,
    /// Input channels: 1 (grayscale) or 3.
    #[arg(long, default_value_t = 1)]
    channels: usize,
    /// Channel multiplier (1 = torchvision widths).
    #[arg(long, default_value_t = 1.0)]
    width: f32,
    /// AlexNet hidden fully-connected size.
    #[arg(long, default_value_t = 4096)]
    hidden: usize,
    /// AlexNet conv1 padding (5 as in the paper's AlexNet-FHE; torchvision uses 2).
    #[arg(long, default_value_t = 5)]
    conv1_pad: usize,
}

#[derive(Args)]
struct StudentArgs {
    /// Activation replacing ReLU.
    #[arg(long, value_enum, default_value_t = ActArg::Poly)]
    act: ActArg,
    /// Initial polynomial coefficients c0,c1,c2 (c0 + c1·x + c2·x²).
    #[arg(long, default_value = "0,0.5,0.05", value_parser = parse_coefs)]
    init: [f32; 3],
    /// Do not insert BatchNorm (AlexNet: after pooling; SqueezeNet: after convolutions).
    #[arg(long)]
    no_bn: bool,
    /// When activations switch to polynomials.
    #[arg(long, value_enum, default_value_t = ScheduleArg::All)]
    schedule: ScheduleArg,
    /// First epoch (from 0) of the layer-by-layer or smooth schedule.
    #[arg(long, default_value_t = 0)]
    start: usize,
    /// Epochs per activation of the layer-by-layer or smooth schedule.
    #[arg(long, default_value_t = 1)]
    every: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum ActArg {
    Poly,
    Square,
    ApproxRelu,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleArg {
    All,
    Layer,
    Smooth,
}

#[derive(Args)]
struct RecipeArgs {
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f32,
    /// Learning rate of the activation coefficients (student).
    #[arg(long, default_value_t = 2e-4)]
    coef_lr: f32,
    /// Clamp gradients to [-v, v].
    #[arg(long, conflicts_with = "clip_norm")]
    clip_value: Option<f32>,
    /// Scale gradients to a global L2 norm of at most v.
    #[arg(long)]
    clip_norm: Option<f32>,
    /// Distillation weight α (student).
    #[arg(long, default_value_t = 0.1)]
    alpha: f32,
    /// Distillation temperature T (student).
    #[arg(long, default_value_t = 10.0)]
    temperature: f32,
    /// Range-awareness loss weight (student; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    range_weight: f32,
    /// Range bound R of the range-awareness loss.
    #[arg(long, default_value_t = 10.0)]
    range: f32,
    #[arg(long)]
    no_augment: bool,
    #[arg(long)]
    no_class_weights: bool,
    #[arg(long)]
    continue_with_nans: bool,
    /// Output folder (default runs/<phase>-<UTC time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace checkpoints already in --out.
    #[arg(long)]
    overwrite: bool,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    quiet: bool,
}

fn parse_coefs(s: &str) -> std::result::Result<[f32; 3], String> {
    let v: Vec<f32> = s.split(',').map(|t| t.trim().parse::<f32>()).collect::<std::result::Result<_, _>>().map_err(|e| format!("{s:?}: {e}"))?;
    <[f32; 3]>::try_from(v).map_err(|v| format!("expected three numbers c0,c1,c2, got {}", v.len()))
}

fn gpu(cli_adapter: &Option<String>) -> Result<Gpu> {
    open_gpu(cli_adapter, false)
}

fn open_gpu(cli_adapter: &Option<String>, profile: bool) -> Result<Gpu> {
    let gpu = Gpu::new(&AdapterChoice { name: cli_adapter.clone(), profile })?;
    eprintln!("adapter: {}", gpu.describe());
    Ok(gpu)
}

/// UTC time as YYYYMMDD-HHMMSS (for default run folders).
fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // civil-from-days (proleptic Gregorian)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn out_dir(given: &Option<PathBuf>, phase: &str) -> PathBuf {
    given.clone().unwrap_or_else(|| PathBuf::from(format!("runs/{phase}-{}", timestamp())))
}

/// Refuse to replace an existing checkpoint or metrics log unless asked to.
fn guard(out: &Path, phase: &str, overwrite: bool) -> Result<()> {
    for file in [format!("{phase}.safetensors"), format!("{phase}_metrics.jsonl")] {
        let path = out.join(file);
        if path.exists() && !overwrite {
            return Err(Error::Invalid(format!("{} already exists; choose another --out or pass --overwrite", path.display())));
        }
    }
    Ok(())
}

/// The images of `split`; `All` is every split together.
fn split_of(d: &Data, split: Split) -> Dataset {
    match split {
        Split::Train => d.train.clone(),
        Split::Val => d.val.clone(),
        Split::Test => d.test.clone(),
        Split::All => Dataset::concat(&[&d.train, &d.val, &d.test]),
    }
}

fn same_classes(splits: &[&Dataset]) -> Result<()> {
    for s in splits {
        if s.classes != splits[0].classes {
            return Err(Error::Invalid(format!("the splits have different classes: {:?} vs {:?}", splits[0].classes, s.classes)));
        }
    }
    Ok(())
}

/// A dataset for reading only (he-report, export): default image folder, lenient, split seed 123.
fn read_data(root: &Path, format: Format) -> Result<Data> {
    load_data(&DataArgs { data: root.to_path_buf(), format, images: None, strict: false, seed: 123 })
}

fn load_data(a: &DataArgs) -> Result<Data> {
    let root = &a.data;
    if !root.exists() {
        return Err(Error::Invalid(format!("dataset folder {} does not exist", root.display())));
    }
    let (train, val, test) = match a.format {
        Format::Folder => open_splits(root, a.seed)?,
        Format::Cxr | Format::Ct => {
            let label = |split: &str| match a.format {
                Format::Cxr => root.join(format!("{split}_split.txt")),
                _ => root.join(format!("{split}_COVIDx_CT-2A.txt")),
            };
            let images = |split: &str| match (&a.images, a.format) {
                (Some(p), _) => p.clone(),
                (None, Format::Cxr) => root.join(split),
                (None, _) => root.join("2A_images"),
            };
            let open = |split: &str, classes: Option<&[String]>| match a.format {
                Format::Cxr => Dataset::covidx_cxr(&label(split), &images(split), classes),
                _ => Dataset::covidx_ct(&label(split), &images(split), classes),
            };
            let train = open("train", None)?;
            let classes = train.classes.clone();
            let test = open("test", Some(&classes))?;
            if label("val").exists() {
                (train, open("val", Some(&classes))?, test)
            } else {
                // no validation list: hold out 15% of train (seeded, stratified)
                let (tr, va, _) = train.split(0.85, 0.15, a.seed);
                (tr, va, test)
            }
        }
    };
    same_classes(&[&train, &val, &test])?;
    eprintln!(
        "data: {} classes {:?}; train {}, val {}, test {} images",
        train.classes.len(),
        train.classes,
        train.len(),
        val.len(),
        test.len()
    );
    Ok(Data { train, val, test, norm: Normalize::default(), strict: a.strict })
}

fn recipe(r: &RecipeArgs, seed: u64) -> Result<Recipe> {
    if r.epochs == 0 || r.batch == 0 {
        return Err(Error::Invalid("--epochs and --batch must be at least 1".into()));
    }
    if !(r.lr > 0.0 && r.coef_lr >= 0.0 && r.weight_decay >= 0.0) {
        return Err(Error::Invalid("learning rates must be positive and the weight decay non-negative".into()));
    }
    if !(r.temperature > 0.0 && r.range > 0.0 && r.alpha >= 0.0 && r.range_weight >= 0.0) {
        return Err(Error::Invalid("--temperature and --range must be positive, --alpha and --range-weight non-negative".into()));
    }
    let clip = match (r.clip_value, r.clip_norm) {
        (Some(v), _) if v > 0.0 => Clip::Value(v),
        (_, Some(v)) if v > 0.0 => Clip::Norm(v),
        (None, None) => Clip::None,
        _ => return Err(Error::Invalid("clipping thresholds must be positive".into())),
    };
    Ok(Recipe {
        epochs: r.epochs,
        batch: r.batch,
        lr: r.lr,
        weight_decay: r.weight_decay,
        coef_lr: r.coef_lr,
        clip,
        seed,
        augment: !r.no_augment,
        class_weights: !r.no_class_weights,
        kd_alpha: r.alpha,
        kd_t: r.temperature,
        range_weight: r.range_weight,
        range_r: r.range,
        continue_with_nans: r.continue_with_nans,
        progress: !r.quiet,
        ..Recipe::default()
    })
}

fn model_config(m: &ModelArgs, classes: Vec<String>) -> ModelConfig {
    ModelConfig { width: m.width, hidden: m.hidden, conv1_pad: m.conv1_pad, ..ModelConfig::new(m.arch, classes, m.channels, m.input) }
}

fn student_config(s: &StudentArgs) -> Result<(StudentConfig, Schedule)> {
    if s.every == 0 {
        return Err(Error::Invalid("--every must be at least 1".into()));
    }
    let act = match s.act {
        ActArg::Poly => ActKind::Poly,
        ActArg::Square => ActKind::Square,
        ActArg::ApproxRelu => ActKind::ApproxRelu,
    };
    let schedule = match s.schedule {
        ScheduleArg::All => Schedule::AllAtOnce,
        ScheduleArg::Layer => Schedule::LayerByLayer { start: s.start, every: s.every },
        ScheduleArg::Smooth => Schedule::Smooth { start: s.start, every: s.every },
    };
    Ok((StudentConfig { act, init: s.init, batchnorm: !s.no_bn }, schedule))
}

fn report(phase: &str, r: &RunResult) {
    println!(
        "{phase}: best epoch {} (val macro-F1 {:.4}); test accuracy {:.4}, macro-F1 {:.4}; {:.1} s; checkpoint {}",
        r.best_epoch,
        r.best_val.macro_f1,
        r.test.summary.accuracy,
        r.test.summary.macro_f1,
        r.seconds,
        r.checkpoint.display()
    );
    println!("{}", format_summary(&r.test.summary));
}

fn demo(gpu: &Gpu, out: &Path, epochs: usize, tune: &TuneArgs) -> Result<()> {
    if out.join("teacher.safetensors").exists() {
        return Err(Error::Invalid(format!("{} already holds a run; choose another --out", out.display())));
    }
    let t0 = std::time::Instant::now();
    let data_dir = out.join("data");
    println!("1/3 synthesising a 2-class dataset (64x64 grayscale, labelled synthetic) in {}", data_dir.display());
    synth::generate(&data_dir, 2, 64, (320, 80, 100), 123, 1.5)?;
    let data = load_data(&DataArgs { data: data_dir, format: Format::Folder, images: None, strict: false, seed: 123 })?;
    let cfg = ModelConfig { width: 0.25, hidden: 256, ..ModelConfig::new(Arch::Alexnet, data.train.classes.clone(), 1, 64) };
    tune.apply(gpu, cfg.clone(), None, 32)?;
    tune.apply(gpu, cfg.clone(), Some(StudentConfig::default()), 32)?;
    let mut teacher = Model::teacher(gpu, cfg, 123)?;
    println!("2/3 training the ReLU teacher (AlexNet, width x0.25, hidden 256; {} parameters)", teacher.param_count());
    let r = Recipe { epochs, batch: 32, ..Recipe::default() };
    let tr = train::train(&mut teacher, None, &data, &r, out, "teacher")?;
    println!("3/3 converting to the HE-friendly student (avg-pool, BN, trainable x² polynomials) and distilling");
    let scfg = StudentConfig::default();
    let mut student = to_student(&teacher, &scfg)?;
    let rs = Recipe { lr: 1e-4, clip: Clip::Value(1.0), ..r };
    let sr = train::train(&mut student, Some(&teacher), &data, &rs, out, "student")?;
    let (t, s) = (&tr.test.summary, &sr.test.summary);
    println!("\n{:<10} {:>10} {:>10}", "test set", "accuracy", "macro-F1");
    println!("{:<10} {:>10.4} {:>10.4}", "teacher", t.accuracy, t.macro_f1);
    println!("{:<10} {:>10.4} {:>10.4}", "student", s.accuracy, s.macro_f1);
    println!("{:<10} {:>+10.4} {:>+10.4}", "gap", s.accuracy - t.accuracy, s.macro_f1 - t.macro_f1);
    println!("\ndemo took {:.0} s; checkpoints, metrics (*.jsonl) and plots (*.png) are in {}", t0.elapsed().as_secs_f64(), out.display());
    Ok(())
}

/// `heft bench --steps`: heft's step times, then PyTorch's for the same steps and the ratios.
fn bench_steps(gpu: &Gpu, reps: usize, quick: bool, python: Option<&str>, tune: &TuneArgs) -> Result<()> {
    use heft::bench::steps;
    let cases = steps::cases(quick);
    let mut heft_ms = Vec::new();
    for c in &cases {
        tune.apply(gpu, c.config(), c.student_config(), c.batch)?;
        let ms = steps::heft_ms(gpu, c, reps)?;
        eprintln!("{:<48} heft {ms:>9.1} ms", c.name());
        heft_ms.push(ms);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let peer = python.map(|py| steps::torch_ms(py, &cases, reps, threads)).transpose()?;
    println!("heft on {}", gpu.describe());
    if let Some(p) = peer.as_ref().and_then(|p| p.first()) {
        println!("PyTorch: {}", p.1);
    }
    println!("{:<48} {:>10} {:>10} {:>12}", "training step (median)", "heft ms", "torch ms", "heft/torch");
    for (i, c) in cases.iter().enumerate() {
        match &peer {
            Some(p) => println!("{:<48} {:>10.1} {:>10.1} {:>11.1}x", c.name(), heft_ms[i], p[i].0, heft_ms[i] / p[i].0),
            None => println!("{:<48} {:>10.1}", c.name(), heft_ms[i]),
        }
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Demo { ref out, epochs, ref tune } => {
            if epochs == 0 {
                return Err(Error::Invalid("--epochs must be at least 1".into()));
            }
            let out = out_dir(out, "demo");
            demo(&gpu(&cli.adapter)?, &out, epochs, tune)?;
        }
        Cmd::Synth { out, classes, size, train, val, test, seed, strength } => {
            synth::generate(&out, classes, size, (train, val, test), seed, strength)?;
            println!("wrote a synthetic {classes}-class dataset ({size}x{size}) to {}", out.display());
        }
        Cmd::TrainTeacher { ref data, ref model, ref recipe, ref pretrained, ref tune } => {
            let out = out_dir(&recipe.out, "teacher");
            guard(&out, "teacher", recipe.overwrite)?;
            let d = load_data(data)?;
            let r = self::recipe(recipe, data.seed)?;
            let gpu = gpu(&cli.adapter)?;
            let cfg = model_config(model, d.train.classes.clone());
            tune.apply(&gpu, cfg.clone(), None, r.batch)?;
            let mut m = Model::teacher(&gpu, cfg, data.seed)?;
            if let Some(p) = pretrained {
                let rep = checkpoint::load_state(&mut m, p, LoadMode::Pretrained)?;
                eprintln!("pretrained {}: {}", p.display(), rep.describe());
            }
            let res = train::train(&mut m, None, &d, &r, &out, "teacher")?;
            report("teacher", &res);
        }
        Cmd::TrainStudent { ref teacher, ref data, ref student, ref recipe, ref tune } => {
            let out = out_dir(&recipe.out, "student");
            guard(&out, "student", recipe.overwrite)?;
            let d = load_data(data)?;
            let mut r = self::recipe(recipe, data.seed)?;
            let gpu = gpu(&cli.adapter)?;
            let t = checkpoint::load(&gpu, teacher)?;
            let (scfg, schedule) = student_config(student)?;
            r.schedule = schedule;
            tune.apply(&gpu, t.config.clone(), Some(scfg.clone()), r.batch)?;
            let mut s = to_student(&t, &scfg)?;
            let res = train::train(&mut s, Some(&t), &d, &r, &out, "student")?;
            report("student", &res);
        }
        Cmd::Eval { ref model, ref data, split, batch } => {
            let d = load_data(data)?;
            let gpu = gpu(&cli.adapter)?;
            let m = checkpoint::load(&gpu, model)?;
            if d.test.classes != m.config.class_names {
                return Err(Error::Invalid(format!("the data's classes {:?} differ from the model's {:?}", d.test.classes, m.config.class_names)));
            }
            // an external test set comes without splits: score all of it, not a 15% share
            let flat = matches!(data.format, Format::Folder) && !has_split_folders(&data.data);
            let split = split.unwrap_or(if flat { Split::All } else { Split::Test });
            let ds = split_of(&d, split);
            let e = train::evaluate(&m, &d, &ds, batch.max(1))?;
            let which = match (split, flat) {
                (Split::All, true) => "every image (the folder has no train/val/test split)".to_string(),
                (Split::All, false) => "every split".to_string(),
                (s, _) => format!("the {} split", s.to_possible_value().map_or(String::new(), |v| v.get_name().to_string())),
            };
            println!("scored {} of the {} images of {}: {which}", e.summary.confusion.iter().flatten().sum::<u64>(), ds.len(), data.data.display());
            println!("loss {:.4}\n{}", e.loss, format_summary(&e.summary));
            for r in &e.ranges {
                println!("activation {:<36} input range [{:.3}, {:.3}]", r.name, r.min, r.max);
            }
        }
        Cmd::Predict { ref model, ref inputs, ref out, overwrite, format, batch, strict } => {
            if batch == 0 {
                return Err(Error::Invalid("--batch must be at least 1".into()));
            }
            if let Some(o) = out {
                predict::check_out(o, overwrite)?;
            }
            let paths = predict::gather(inputs)?;
            let gpu = gpu(&cli.adapter)?;
            let m = checkpoint::load(&gpu, model)?;
            let p = predict::run(&m, &paths, batch, Normalize::default(), strict, true)?;
            let text = match format {
                PredictFormat::Csv => predict::to_csv(&p),
                PredictFormat::Json => predict::to_json(&p)?,
            };
            match out {
                Some(o) => predict::write_new(o, &text, overwrite)?,
                None => print!("{text}"),
            }
            eprint!("{}", predict::summary(&p));
            if let Some(o) = out {
                eprintln!("wrote {}", o.display());
            }
        }
        Cmd::Summary { ref checkpoint, ref fresh } => {
            let gpu = gpu(&cli.adapter)?;
            let m = match checkpoint {
                Some(p) => checkpoint::load(&gpu, p)?,
                None => {
                    let t = Model::teacher(&gpu, fresh.config(), 0)?;
                    if fresh.student {
                        to_student(&t, &StudentConfig::default())?
                    } else {
                        t
                    }
                }
            };
            print!("{}", heft::nn::summary::format(&m)?);
        }
        Cmd::Check { random, seed, ref against, ref json } => {
            let gpu = gpu(&cli.adapter)?;
            let mut rows = match against {
                Some(p) => heft::check::model(&gpu, &p.display().to_string(), &heft::check::Golden::open(p)?)?,
                None => heft::check::golden(&gpu)?,
            };
            if random > 0 {
                rows.extend(heft::check::random(&gpu, random, seed)?);
            }
            println!("{:<16} {:<44} {:>11} {:>11} {:>18} result", "kernel", "case", "max abs", "max rel", "tolerance");
            for r in &rows {
                println!(
                    "{:<16} {:<44} {:>11.3e} {:>11.3e} {:>18} {}",
                    r.kernel,
                    r.case,
                    r.max_abs,
                    r.max_rel,
                    format!("{:.0e}+{:.0e}|ref|", r.atol, r.rtol),
                    if r.pass { "pass" } else { "FAIL" }
                );
            }
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&rows).map_err(|e| Error::Invalid(e.to_string()))?;
                std::fs::write(path, text).map_err(|err| Error::Io { path: path.display().to_string(), err })?;
            }
            let failed = rows.iter().filter(|r| !r.pass).count();
            if let (Some(_), Some(first)) = (against, heft::check::first_failure(&rows)) {
                println!("first divergence: {} {}", first.kernel, first.case);
            }
            println!("{} passed, {failed} failed", rows.len() - failed);
            if failed > 0 {
                return Err(Error::Invalid(format!("{failed} comparisons failed on {}", gpu.describe())));
            }
        }
        Cmd::HeReport { ref model, ref data, format, split, batches, json } => {
            let gpu = gpu(&cli.adapter)?;
            let m = checkpoint::load(&gpu, model)?;
            let costs = heft::he::depth(&m);
            let depth = costs.last().map_or(0, |c| c.depth);
            let stats = match data {
                Some(root) => {
                    let d = read_data(root, format)?;
                    Some(heft::he::observe(&m, &split_of(&d, split), d.norm, 32, batches)?)
                }
                None => None,
            };
            let ckks = heft::he::recommend(depth, stats.as_ref().map(|s| s.max_abs as f64));
            let problems: Vec<&String> = costs.iter().filter_map(|c| c.problem.as_ref()).collect();
            if json {
                let v = serde_json::json!({ "layers": costs, "depth": depth, "he_friendly": problems.is_empty(), "data": stats, "ckks": ckks });
                println!("{}", serde_json::to_string_pretty(&v).map_err(|e| Error::Invalid(e.to_string()))?);
            } else {
                println!("{:<36} {:<22} {:>7} {:>6}  notes", "layer", "type", "levels", "depth");
                for c in &costs {
                    println!("{:<36} {:<22} {:>7} {:>6}  {}", c.name, c.kind, c.levels, c.depth, c.problem.as_deref().unwrap_or(""));
                }
                println!("multiplicative depth: {depth} (conv/linear 1, polynomial activation 1 with its c2 and c0 folded into the next layer, avg-pool and BN 0)");
                if let Some(s) = &stats {
                    println!("\nobserved over {} images:", s.images);
                    for a in &s.acts {
                        println!("activation {:<36} input [{:>9.3}, {:>9.3}]  p99.9 |x| {:>8.3}", a.name, a.min, a.max, a.p999_abs);
                    }
                    println!("largest |intermediate value|: {:.3}", s.max_abs);
                }
                println!("\nCKKS, 128-bit security: ring dimension {} ({} slots), scale 2^{}, first prime {} bits, {} primes of {} bits, special prime {} bits: log2(QP) = {} (bound {})", ckks.ring_dim, ckks.slots, ckks.scale_bits, ckks.first_prime_bits, ckks.levels, ckks.scale_bits, ckks.special_prime_bits, ckks.total_bits, ckks.max_total_bits);
                for r in &ckks.reasons {
                    println!("  - {r}");
                }
                for w in &ckks.warnings {
                    println!("warning: {w}");
                }
                if !problems.is_empty() {
                    println!("NOT HE-friendly: {}", problems.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("; "));
                }
            }
        }
        Cmd::Export { ref model, ref onnx, samples, ref data, format } => {
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
            let gpu = gpu(&cli.adapter)?;
            let m = checkpoint::load(&gpu, model)?;
            let (bytes, ops) = heft::he::onnx::export(&m)?;
            // the sample first: if it fails, nothing is left behind to block a re-run
            let sampled = match sample_data {
                Some(root) => {
                    let d = read_data(root, format)?;
                    Some(heft::he::onnx::write_sample(&m, &d.test, d.norm, samples, &sample_path)?)
                }
                None => None,
            };
            // create_new: never replace a file that appeared since the check above
            let written = match std::fs::OpenOptions::new().write(true).create_new(true).open(onnx) {
                Ok(mut f) => std::io::Write::write_all(&mut f, &bytes).inspect_err(|_| {
                    let _ = std::fs::remove_file(onnx); // the partial file this run created
                }),
                Err(err) => Err(err),
            };
            if let Err(err) = written {
                if sampled.is_some() {
                    let _ = std::fs::remove_file(&sample_path); // written just above, by this run
                }
                return Err(Error::Io { path: onnx.display().to_string(), err });
            }
            println!("wrote {} ({} bytes; operators: {})", onnx.display(), bytes.len(), ops.join(", "));
            if let Some(n) = sampled {
                println!("wrote {} ({n} test images and heft's logits)", sample_path.display());
            }
        }
        Cmd::Profile { ref fresh, batch, steps, json, ref trace, ref tune } => {
            if let Some(t) = trace.as_ref().filter(|t| t.exists()) {
                return Err(Error::Invalid(format!("{} already exists; choose another --trace path", t.display())));
            }
            let gpu = open_gpu(&cli.adapter, true)?;
            let s = fresh.student.then(StudentConfig::default);
            tune.apply(&gpu, fresh.config(), s.clone(), batch)?;
            let p = heft::profile::run(&gpu, fresh.config(), s, batch, steps, 123)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&p).map_err(|e| Error::Invalid(e.to_string()))?);
            } else {
                print!("{}", heft::profile::format(&p));
            }
            if let Some(path) = trace {
                let json = heft::gpu::chrome_trace(&p.trace, &gpu.describe()).to_string();
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, json).and_then(|_| std::fs::rename(&tmp, path)).map_err(|err| Error::Io { path: path.display().to_string(), err })?;
                eprintln!("wrote {} ({} dispatches; open it in ui.perfetto.dev)", path.display(), p.trace.len());
            }
        }
        Cmd::Tune { ref fresh, batch, reps, again, ref cache } => {
            if reps == 0 {
                return Err(Error::Invalid("--reps must be at least 1".into()));
            }
            let dir = cache.clone().or_else(heft::tune::default_dir).ok_or_else(|| Error::Invalid("no cache folder: set HEFT_CACHE_DIR or pass --cache DIR".into()))?;
            let gpu = gpu(&cli.adapter)?;
            let shapes = heft::tune::step_shapes(&gpu, fresh.config(), fresh.student.then(StudentConfig::default), batch)?;
            let path = heft::tune::cache_path(&gpu, &dir);
            if again && path.exists() {
                let mut file = heft::tune::load(&path)?.unwrap_or_default();
                file.entries.retain(|e| !shapes.contains(&e.shape));
                heft::tune::save(&file, &path)?;
            }
            let announce = |n: usize, _: &Path| eprintln!("timing {} GEMM variants on {n} shapes", heft::ops::matmul::VARIANTS.iter().filter(|v| v.available(&gpu)).count());
            let (path, timed) = heft::tune::ensure(&gpu, &dir, &shapes, reps, announce, |e| eprint!("\r{:?} -> {}        ", e.shape, e.choice))?;
            eprintln!();
            let file = heft::tune::load(&path)?.unwrap_or_default();
            println!("{:<22} {:<10} times (ms, median of {reps}; fastest first)", "GEMM M x N x K", "choice");
            for e in file.entries.iter().filter(|e| shapes.contains(&e.shape)) {
                let times: Vec<String> = e.ms.iter().map(|(v, ms)| format!("{v} {ms:.3}")).collect();
                println!("{:<22} {:<10} {}", format!("{} x {} x {}", e.shape[0], e.shape[1], e.shape[2]), e.choice, times.join(", "));
            }
            println!("{} shapes ({timed} timed now, the rest from the cache); cache: {}", shapes.len(), path.display());
        }
        Cmd::Adapters => {
            let all = heft::gpu::list_adapters();
            if all.is_empty() {
                return Err(Error::NoAdapter("wgpu found no adapter".into()));
            }
            for a in all {
                println!("{} ({:?}, {:?}, driver {} {})", a.name, a.backend, a.device_type, a.driver, a.driver_info);
            }
        }
        Cmd::Bench { reps, batch, steps, quick, compare, ref python, ref tune } => {
            if reps == 0 || batch == 0 {
                return Err(Error::Invalid("--reps and --batch must be at least 1".into()));
            }
            if (quick || compare) && !steps {
                return Err(Error::Invalid("--quick and --compare go with --steps".into()));
            }
            let gpu = gpu(&cli.adapter)?;
            if steps {
                bench_steps(&gpu, reps, quick, compare.then_some(python.as_str()), tune)?;
            } else {
                heft::bench::run(&gpu, reps, batch, |r| println!("{:<48} {:>9.1} ms {:>8.2} GFLOP/s", r.name, r.median_ms, r.gflops()))?;
            }
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
