//! The grid of Baruch et al. (arXiv 2111.03362) as an experiment file (`heft reproduce`): for
//! each network, the ReLU teacher; the method (teacher weights, trainable polynomials, batch
//! norm, KD, all at once); its ablations (no KD; fixed x²; fixed approx-ReLU; layer by layer;
//! smooth); and the baseline the paper's "+7 %" is measured against, the same HE-friendly
//! network trained from scratch without teacher weights or KD.

use crate::data::Format;
use crate::nn::model::Arch;
use std::fmt::Write;
use std::path::PathBuf;

/// The settings `heft reproduce` takes.
pub struct PaperGrid {
    pub data: PathBuf,
    pub format: Format,
    pub input: usize,
    pub channels: usize,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub width: f32,
    pub hidden: usize,
    pub batch: usize,
    pub models: Vec<Arch>,
}

/// ReLUs of a network, all of which a layer-by-layer or smooth schedule replaces one after
/// another (AlexNet: 5 conv + 2 hidden; SqueezeNet: conv1, 3 per fire module, the classifier;
/// ResNet-20: the stem and 2 per block). `tests/experiment.rs` checks them on built models.
pub fn activations(arch: Arch) -> usize {
    match arch {
        Arch::Alexnet => 7,
        Arch::Squeezenet10 | Arch::Squeezenet11 => 1 + 8 * 3 + 1,
        Arch::Resnet20 => 1 + 9 * 2,
    }
}

/// The name prefix of a network's runs.
pub fn prefix(arch: Arch) -> &'static str {
    match arch {
        Arch::Alexnet => "alexnet",
        Arch::Squeezenet10 => "squeezenet1_0",
        Arch::Squeezenet11 => "squeezenet1_1",
        Arch::Resnet20 => "resnet20",
    }
}

/// `s` as a TOML basic string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The student runs of one network: (name suffix, comment, keys beyond the method's). The
/// smooth schedule blends each activation over `every` epochs in steps of 1/every; with
/// every = 1 it would be the layer-by-layer schedule itself (measured: identical runs), so it
/// takes two epochs per activation.
const STUDENTS: [(&str, &str, &str); 6] = [
    ("method", "the method: teacher weights, trainable polynomials, batch norm, KD, all at once", ""),
    ("no-kd", "ablation: without knowledge distillation", "kd = false\n"),
    ("square", "ablation: fixed x² instead of trainable polynomials", "act = \"square\"\n"),
    ("approx-relu", "ablation: IBM's fixed approx-ReLU 0.000469841857369822·x² + 0.500000000000008·x", "act = \"approx-relu\"\n"),
    ("layer", "ablation: layer by layer, one more activation polynomial every epoch", "schedule = \"layer\"\nevery = 1\n"),
    ("smooth", "ablation: smooth, each activation blended ReLU→polynomial over two epochs in turn (half, then whole)", "schedule = \"smooth\"\nevery = 2\n"),
];

impl PaperGrid {
    /// The experiment file (the output folder is the file's own).
    pub fn toml(&self) -> String {
        let mut t = String::from("# The grid of Baruch et al., arXiv 2111.03362, written by `heft reproduce`.\n");
        t += "# Run it with `heft experiment THIS_FILE`; one run with `--run NAME`; a Slurm job array with `--emit slurm`.\n\n";
        t += "out = \".\"\n";
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(t, "seeds = [{}]\n", seeds.join(", "));
        t += "[data]\n";
        let _ = writeln!(t, "path = {}", quote(&self.data.display().to_string()));
        let _ = writeln!(t, "format = \"{}\"", format!("{:?}", self.format).to_lowercase());
        let _ = writeln!(t, "input = {}\nchannels = {}\n", self.input, self.channels);
        t += "# the teachers' recipe (heft's defaults: Adam, class-weighted CE, plateau schedule)\n[base]\n";
        let _ = writeln!(t, "epochs = {}\nbatch = {}\nwidth = {}\nhidden = {}\n", self.epochs, self.batch, self.width, self.hidden);
        for &arch in &self.models {
            let p = prefix(arch);
            // SqueezeNet's 26 stacked polynomials: its students take the range-awareness loss,
            // and IBM's stopping rule (only non-finite values roll back): on covid-ct heft's
            // default bound stopped 1 of 3 seeds, with or without the loss, on a few unusual
            // slices whose eval-mode inputs run away while the rest stay in range (RESULTS.md)
            let squeezenet = matches!(arch, Arch::Squeezenet10 | Arch::Squeezenet11);
            let range = if squeezenet {
                "range_weight = 0.001  # the range-awareness loss (RESULTS.md)\nmax_range = 1e30  # IBM's stopping rule (RESULTS.md)\n"
            } else {
                ""
            };
            // a schedule replacing n activations every `every` epochs needs n·every + 1 epochs
            // to keep a checkpoint with every activation polynomial
            let n = activations(arch);
            let _ = writeln!(t, "# ---- {p} ----\n[[run]]\nname = \"{p}-teacher\"\nmodel = \"{p}\"");
            if squeezenet {
                // the SqueezeNet teacher measured in heft on covid-ct (RESULTS.md); its student
                // copies the trained batch norms
                t += "batchnorm = true  # the SqueezeNet teacher measured on covid-ct (RESULTS.md)\n";
            }
            t += "\n";
            for (suffix, comment, keys) in STUDENTS {
                let _ = writeln!(t, "# {comment}\n[[run]]\nname = \"{p}-{suffix}\"\nstudent = true\nteacher = \"{p}-teacher\"");
                t += "lr = 1e-4\nclip_value = 1.0\n";
                t += range;
                t += keys;
                let every = if suffix == "smooth" { 2 } else { 1 };
                let schedule_epochs = self.epochs.max(n * every + 1);
                if keys.contains("schedule") && schedule_epochs > self.epochs {
                    let _ = writeln!(t, "epochs = {schedule_epochs}  # {n} activations, {every} epoch(s) each, then one more");
                }
                t += "\n";
            }
            let _ = writeln!(
                t,
                "# baseline: the same HE-friendly network from scratch (no teacher weights, no KD), the teachers' learning rate\n\
                 [[run]]\nname = \"{p}-scratch\"\nstudent = true\nteacher = \"{p}-teacher\"  # for the gap column only\n\
                 weights = \"scratch\"\nmodel = \"{p}\"\nclip_value = 1.0\n{range}"
            );
        }
        t
    }
}
