//! Train-time augmentation, in two steps applied by `image::load_augmented`:
//! 1. `crop_window` picks a random resized-crop window of the decoded (box-cropped) image,
//!    which is then resized to the training size (so the crop costs no extra resampling);
//! 2. `apply` works on the resized CHW f32 pixels in [0, 1], before normalisation: flips,
//!    a small rotation about the centre (bilinear, black outside the image, as torchvision),
//!    brightness and contrast jitter, then clamps to [0, 1].
//!
//! All randomness comes from the `Rng` the caller seeds per (seed, epoch, sample).

use crate::rng::Rng;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Random resized crop: the window covers this fraction (range) of the image's area, with an
    /// aspect ratio drawn log-uniformly from [3/4, 4/3]. (1, 1) disables it.
    pub crop_scale: (f32, f32),
    /// Horizontal flip with probability 1/2.
    pub hflip: bool,
    /// Vertical flip with probability 1/2.
    pub vflip: bool,
    /// Rotation by an angle uniform in [-rotate_deg, rotate_deg] degrees.
    pub rotate_deg: f32,
    /// Pixels multiplied by a factor uniform in [1 - brightness, 1 + brightness].
    pub brightness: f32,
    /// Distance from the image mean scaled by a factor uniform in [1 - contrast, 1 + contrast].
    pub contrast: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Augment { crop_scale: (0.7, 1.0), hflip: true, vflip: false, rotate_deg: 10.0, brightness: 0.2, contrast: 0.2 }
    }
}

impl Augment {
    /// Checks that every setting is in its range.
    pub fn check(&self) -> Result<()> {
        let (lo, hi) = self.crop_scale;
        let ok = lo > 0.0 && lo <= hi && hi <= 1.0;
        let ok = ok && self.rotate_deg.is_finite() && self.rotate_deg >= 0.0;
        let ok = ok && (0.0..1.0).contains(&self.brightness) && (0.0..1.0).contains(&self.contrast);
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "augmentation {self:?} is out of range: need 0 < crop_scale.0 <= crop_scale.1 <= 1, \
                 rotate_deg >= 0, brightness and contrast in [0, 1)"
            )))
        }
    }

    /// A random window `(x, y, width, height)` inside a `w`×`h` image.
    pub(crate) fn crop_window(&self, w: u32, h: u32, rng: &mut Rng) -> (u32, u32, u32, u32) {
        let (lo, hi) = self.crop_scale;
        if lo >= 1.0 {
            return (0, 0, w, h);
        }
        let area = rng.range(lo, hi);
        let ratio = rng.range((0.75f32).ln(), (4.0f32 / 3.0).ln()).exp();
        let cw = ((area * ratio).sqrt() * w as f32).round().clamp(1.0, w as f32) as u32;
        let ch = ((area / ratio).sqrt() * h as f32).round().clamp(1.0, h as f32) as u32;
        let x = rng.below((w - cw + 1) as usize) as u32;
        let y = rng.below((h - ch + 1) as usize) as u32;
        (x, y, cw, ch)
    }

    /// Flips, rotation, brightness and contrast on `channels`×`size`×`size` pixels in [0, 1].
    pub(crate) fn apply(&self, px: &mut Vec<f32>, channels: usize, size: usize, rng: &mut Rng) {
        let hflip = self.hflip && rng.uniform() < 0.5;
        let vflip = self.vflip && rng.uniform() < 0.5;
        let angle = rng.range(-self.rotate_deg, self.rotate_deg).to_radians();
        if hflip || vflip || angle != 0.0 {
            *px = rotate_flip(px, channels, size, angle, hflip, vflip);
        }
        if self.brightness == 0.0 && self.contrast == 0.0 {
            return;
        }
        let gain = 1.0 + rng.range(-self.brightness, self.brightness);
        let contrast = 1.0 + rng.range(-self.contrast, self.contrast);
        let mean = px.iter().sum::<f32>() / px.len().max(1) as f32 * gain;
        for v in px.iter_mut() {
            *v = ((*v * gain - mean) * contrast + mean).clamp(0.0, 1.0);
        }
    }
}

/// Output pixel p takes the input at R(-angle)·(p - centre) + centre after mirroring p, sampled
/// bilinearly; samples outside the image are 0.
fn rotate_flip(src: &[f32], channels: usize, size: usize, angle: f32, hflip: bool, vflip: bool) -> Vec<f32> {
    let (sin, cos) = angle.sin_cos();
    let m = (size as f32 - 1.0) / 2.0;
    let n = size as isize;
    let mut out = vec![0.0; src.len()];
    for y in 0..size {
        for x in 0..size {
            let dx = if hflip { m - x as f32 } else { x as f32 - m };
            let dy = if vflip { m - y as f32 } else { y as f32 - m };
            let sx = cos * dx + sin * dy + m;
            let sy = -sin * dx + cos * dy + m;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let taps = [(0, 0, (1.0 - fx) * (1.0 - fy)), (1, 0, fx * (1.0 - fy)), (0, 1, (1.0 - fx) * fy), (1, 1, fx * fy)];
            for c in 0..channels {
                let plane = &src[c * size * size..(c + 1) * size * size];
                let mut acc = 0.0;
                for &(ox, oy, wt) in &taps {
                    let (xi, yi) = (x0 + ox, y0 + oy);
                    if wt != 0.0 && (0..n).contains(&xi) && (0..n).contains(&yi) {
                        acc += wt * plane[yi as usize * size + xi as usize];
                    }
                }
                out[(c * size + y) * size + x] = acc;
            }
        }
    }
    out
}
