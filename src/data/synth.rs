//! The SYNTHETIC dataset heft generates itself for the demo and the tests: procedural
//! "chest-scan-like" grayscale images (an elliptical body, two darker lung fields, spine, ribs,
//! soft texture and noise). Classes: `0_normal`; `1_lesion`, a few small bright or ground-glass
//! blobs inside the lungs; `2_diffuse` (with 3 classes), faint mottled texture across both lungs.
//! Every shape, level and exposure is jittered so a CNN has to learn local patterns (the mean
//! brightness alone does not separate the classes). Not medical data; deterministic per seed.

use crate::rng::{derive, Rng};
use crate::error::{Error, Result};
use ::image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};
use std::path::Path;

// Generator parameters: uniform ranges; positions and lengths are fractions of the image size,
// levels are intensities in [0, 1].
const BACKGROUND: f32 = 0.04;
const BODY_CX: (f32, f32) = (0.47, 0.53);
const BODY_CY: (f32, f32) = (0.50, 0.56);
const BODY_RX: (f32, f32) = (0.38, 0.44);
const BODY_RY: (f32, f32) = (0.40, 0.46);
const BODY_LEVEL: (f32, f32) = (0.50, 0.62);
const SPINE_LEVEL: f32 = 0.10;
const LUNG_OFFSET_X: (f32, f32) = (0.16, 0.20);
const LUNG_RAISE: (f32, f32) = (0.02, 0.06);
const LUNG_RX: (f32, f32) = (0.11, 0.14);
const LUNG_RY: (f32, f32) = (0.22, 0.28);
const LUNG_DEPTH: (f32, f32) = (0.22, 0.32);
const RIB_PERIODS: (f32, f32) = (6.0, 8.0);
const RIB_LEVEL: (f32, f32) = (0.02, 0.05);
const TEXTURE_CELLS: usize = 6;
const TEXTURE_LEVEL: f32 = 0.08;
const GAIN: (f32, f32) = (0.85, 1.15);
const OFFSET: (f32, f32) = (-0.06, 0.06);
const NOISE_SD: (f32, f32) = (0.015, 0.03);
const LESIONS_MAX: usize = 4;
const LESION_RADIUS: (f32, f32) = (0.04, 0.07);
const LESION_LEVEL: (f32, f32) = (0.18, 0.36);
const DIFFUSE_LEVEL: (f32, f32) = (0.10, 0.18);
const DIFFUSE_CELL_PX: usize = 4;

const SPLITS: [&str; 3] = ["train", "val", "test"];
const README_MARK: &str = "heft synthetic dataset";

/// Folder names of the synthetic classes, in label order (the numeric prefix keeps the sorted
/// folder order of `Dataset::folder` equal to it): `0_normal`, `1_lesion`, `2_diffuse`.
/// At most 3 names.
pub fn class_names(classes: usize) -> Vec<String> {
    ["0_normal", "1_lesion", "2_diffuse"].iter().take(classes).map(|s| s.to_string()).collect()
}

/// Writes `out/{train,val,test}/<class>/<index>.png` (8-bit gray, `size`×`size`) with
/// `per_class` = (train, val, test) images per class, and `out/README.txt` describing the data.
/// `out` must be new, empty, or an earlier synthetic dataset (whose splits are replaced).
/// `strength` scales the level of what the classes add (lesions, mottling): 1 is the default
/// task; larger values make it easier (tests use 2 to learn in a few epochs).
pub fn generate(out: &Path, classes: usize, size: usize, per_class: (usize, usize, usize), seed: u64, strength: f32) -> Result<()> {
    if !(strength > 0.0 && strength <= 10.0) {
        return Err(Error::Invalid(format!("synthetic class strength {strength} is out of range (0, 10]")));
    }
    if classes != 2 && classes != 3 {
        return Err(Error::Invalid(format!("synthetic data has 2 or 3 classes, not {classes}")));
    }
    if !(16..=4096).contains(&size) {
        return Err(Error::Invalid(format!("synthetic image size {size} is out of range; use 16 to 4096 (e.g. 64)")));
    }
    prepare_out(out)?;
    let names = class_names(classes);
    let counts = [per_class.0, per_class.1, per_class.2];
    for (s, split) in SPLITS.iter().enumerate() {
        for (k, name) in names.iter().enumerate() {
            let dir = out.join(split).join(name);
            std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            for i in 0..counts[s] {
                let mut rng = Rng::new(derive(&[seed, s as u64, k as u64, i as u64]));
                let pixels = render(k, size, strength, &mut rng);
                let mut png = Vec::new();
                PngEncoder::new(&mut png)
                    .write_image(&pixels, size as u32, size as u32, ExtendedColorType::L8)
                    .map_err(|e| Error::Invalid(format!("could not encode a synthetic PNG: {e}")))?;
                let path = dir.join(format!("{i:05}.png"));
                crate::fsx::write(&path, &png)?;
            }
        }
    }
    let path = out.join("README.txt");
    crate::fsx::write(&path, readme(&names, size, counts, seed, strength).as_bytes())
}

fn io_err(path: &Path, err: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), err }
}

/// Refuses to write into a folder holding anything but an earlier synthetic dataset, and
/// removes that dataset's splits so no stale images remain.
fn prepare_out(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| io_err(out, e))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap_or_default();
    if !readme.starts_with(README_MARK) {
        return Err(Error::Invalid(format!(
            "{} exists and is not a heft synthetic dataset; choose a new or empty folder",
            out.display()
        )));
    }
    for split in SPLITS {
        let dir = out.join(split);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        }
    }
    Ok(())
}

fn readme(names: &[String], size: usize, counts: [usize; 3], seed: u64, strength: f32) -> String {
    format!(
        "{README_MARK} — SYNTHETIC images, not medical data.\n\
         Generated procedurally by heft (src/data/synth.rs) for demos and tests; it says nothing\n\
         about real scans. Regenerate it with the same parameters and seed to get the same bytes.\n\n\
         seed: {seed}\nclass strength: {strength} (scales the lesion and mottling levels below)\nclasses (label order): {names}\nimages: {size}x{size}, 8-bit grayscale PNG\n\
         images per class: train {}, val {}, test {}\nlayout: {{train,val,test}}/<class>/<index>.png\n\n\
         generator (uniform ranges; positions and lengths as fractions of the image size):\n\
         background level {BACKGROUND}\n\
         body ellipse: centre x {BODY_CX:?}, y {BODY_CY:?}, radii x {BODY_RX:?}, y {BODY_RY:?}, level {BODY_LEVEL:?}, spine +{SPINE_LEVEL}\n\
         lungs: centres body x -/+ {LUNG_OFFSET_X:?}, raised {LUNG_RAISE:?}, radii x {LUNG_RX:?}, y {LUNG_RY:?}, darker by {LUNG_DEPTH:?}\n\
         ribs: {RIB_PERIODS:?} periods over the height, level {RIB_LEVEL:?}; texture: {TEXTURE_CELLS}x{TEXTURE_CELLS} value noise, level {TEXTURE_LEVEL}\n\
         exposure: gain {GAIN:?}, offset {OFFSET:?}, pixel noise sd {NOISE_SD:?}\n\
         0_normal: nothing more\n\
         1_lesion: 1 to {LESIONS_MAX} gaussian blobs in the lungs, radius {LESION_RADIUS:?}, level {LESION_LEVEL:?};\n\
         \x20 half of them ground-glass (radius x1.6, level x0.5)\n\
         2_diffuse: value-noise mottling with {DIFFUSE_CELL_PX}-pixel cells over both lungs, level {DIFFUSE_LEVEL:?}\n",
        counts[0],
        counts[1],
        counts[2],
        names = names.join(", "),
    )
}

#[derive(Clone, Copy)]
struct Ellipse {
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
}

impl Ellipse {
    /// 1 inside, 0 outside, smooth over the outer 30 % of the squared radius.
    fn mask(&self, u: f32, v: f32) -> f32 {
        let d2 = ((u - self.cx) / self.rx).powi(2) + ((v - self.cy) / self.ry).powi(2);
        let t = ((1.0 - d2) / 0.3).clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    }

    /// A uniform point in the ellipse shrunk by `frac`.
    fn point_inside(&self, frac: f32, rng: &mut Rng) -> (f32, f32) {
        let r = rng.uniform().sqrt() * frac;
        let a = rng.range(0.0, std::f32::consts::TAU);
        (self.cx + r * a.cos() * self.rx, self.cy + r * a.sin() * self.ry)
    }
}

fn r(rng: &mut Rng, (lo, hi): (f32, f32)) -> f32 {
    rng.range(lo, hi)
}

/// Smooth random field in [0, 1): `cells`×`cells` random values, smoothly interpolated.
fn value_noise(cells: usize, size: usize, rng: &mut Rng) -> Vec<f32> {
    let g = cells + 1;
    let grid: Vec<f32> = (0..g * g).map(|_| rng.uniform()).collect();
    let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
    let mut out = Vec::with_capacity(size * size);
    for y in 0..size {
        let gy = y as f32 / size as f32 * cells as f32;
        let (y0, ty) = (gy as usize, smooth(gy.fract()));
        for x in 0..size {
            let gx = x as f32 / size as f32 * cells as f32;
            let (x0, tx) = (gx as usize, smooth(gx.fract()));
            let at = |xx: usize, yy: usize| grid[yy * g + xx];
            let top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * tx;
            let bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * tx;
            out.push(top + (bottom - top) * ty);
        }
    }
    out
}

/// Centre of pixel `i` of a `size`×`size` image, in fractions of the size.
fn coords(i: usize, size: usize) -> (f32, f32) {
    let s = size as f32;
    (((i % size) as f32 + 0.5) / s, ((i / size) as f32 + 0.5) / s)
}

/// One image of class `kind` (0 normal, 1 lesion, 2 diffuse), row-major 8-bit.
fn render(kind: usize, size: usize, strength: f32, rng: &mut Rng) -> Vec<u8> {
    let body = Ellipse { cx: r(rng, BODY_CX), cy: r(rng, BODY_CY), rx: r(rng, BODY_RX), ry: r(rng, BODY_RY) };
    let body_level = r(rng, BODY_LEVEL);
    let lungs = [-1.0, 1.0].map(|side: f32| Ellipse {
        cx: body.cx + side * r(rng, LUNG_OFFSET_X),
        cy: body.cy - r(rng, LUNG_RAISE),
        rx: r(rng, LUNG_RX),
        ry: r(rng, LUNG_RY),
    });
    let lung_depth = r(rng, LUNG_DEPTH);
    let (rib_periods, rib_phase, rib_level) = (r(rng, RIB_PERIODS), rng.uniform(), r(rng, RIB_LEVEL));
    let (gain, offset, noise_sd) = (r(rng, GAIN), r(rng, OFFSET), r(rng, NOISE_SD));
    let texture = value_noise(TEXTURE_CELLS, size, rng);

    // What the class adds inside the lungs.
    let n = size * size;
    let mut extra = vec![0.0f32; n];
    if kind == 1 {
        for _ in 0..1 + rng.below(LESIONS_MAX) {
            let lung = lungs[rng.below(2)];
            let (bx, by) = lung.point_inside(0.75, rng);
            let (mut radius, mut level) = (r(rng, LESION_RADIUS), strength * r(rng, LESION_LEVEL));
            if rng.uniform() < 0.5 {
                (radius, level) = (radius * 1.6, level * 0.5);
            }
            let k = -0.5 / (radius * radius);
            for (i, e) in extra.iter_mut().enumerate() {
                let (u, v) = coords(i, size);
                *e += level * (k * ((u - bx).powi(2) + (v - by).powi(2))).exp();
            }
        }
    } else if kind == 2 {
        let level = strength * r(rng, DIFFUSE_LEVEL);
        let mottle = value_noise((size / DIFFUSE_CELL_PX).max(2), size, rng);
        for (e, m) in extra.iter_mut().zip(mottle) {
            *e = level * ((m - 0.4) / 0.6).max(0.0);
        }
    }

    (0..n)
        .map(|i| {
            let (u, v) = coords(i, size);
            let in_body = body.mask(u, v);
            let in_lung = lungs[0].mask(u, v).max(lungs[1].mask(u, v));
            let spine = SPINE_LEVEL * (-((u - body.cx) / 0.05).powi(2)).exp();
            let ribs = rib_level * (std::f32::consts::TAU * (v * rib_periods + rib_phase)).sin().max(0.0).powi(4);
            let tissue = body_level + spine + ribs + TEXTURE_LEVEL * (texture[i] - 0.5);
            let value = BACKGROUND + in_body * (tissue - BACKGROUND) + in_lung * (extra[i] - lung_depth);
            let value = value * gain + offset + noise_sd * rng.normal();
            (value.clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}
