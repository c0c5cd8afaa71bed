//! PNG plots drawn pixel by pixel: line charts of per-epoch metrics and confusion-matrix heat
//! maps, labelled with the built-in 5×7 font (`font`). No anti-aliasing, so every series is
//! drawn in exactly its palette colour.

use super::font::{self, glyph, text_width};
use super::metrics::Confusion;
use crate::error::{Error, Result};
use image::{ImageError, ImageFormat, Rgb, RgbImage};
use std::path::Path;

/// Series colours, in order; the tenth series is followed by the first colour again.
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];
const INK: Rgb<u8> = Rgb([30, 30, 30]);
const AXIS: Rgb<u8> = Rgb([110, 110, 110]);
const GRID: Rgb<u8> = Rgb([228, 228, 228]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

/// Line-chart size in pixels.
pub const CHART_W: u32 = 640;
pub const CHART_H: u32 = 400;

struct Canvas(RgbImage);

impl Canvas {
    fn new(w: i32, h: i32) -> Canvas {
        Canvas(RgbImage::from_pixel(w as u32, h as u32, WHITE))
    }

    /// Filled rectangle, clipped to the image.
    fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, c: Rgb<u8>) {
        let (iw, ih) = (self.0.width() as i32, self.0.height() as i32);
        for py in y.max(0)..(y.saturating_add(h)).min(ih) {
            for px in x.max(0)..(x.saturating_add(w)).min(iw) {
                self.0.put_pixel(px as u32, py as u32, c);
            }
        }
    }

    fn outline(&mut self, x: i32, y: i32, w: i32, h: i32, c: Rgb<u8>) {
        self.rect(x, y, w, 1, c);
        self.rect(x, y + h - 1, w, 1, c);
        self.rect(x, y, 1, h, c);
        self.rect(x + w - 1, y, 1, h, c);
    }

    /// Bresenham line with a square pen of `pen` pixels.
    fn line(&mut self, (mut x, mut y): (i32, i32), (x1, y1): (i32, i32), pen: i32, c: Rgb<u8>) {
        let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
        let (sx, sy) = ((x1 - x).signum(), (y1 - y).signum());
        let mut err = dx + dy;
        loop {
            self.rect(x - pen / 2, y - pen / 2, pen, pen, c);
            if (x, y) == (x1, y1) {
                return;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text with its top-left corner at (x, y), each font pixel `scale`×`scale`.
    fn text(&mut self, x: i32, y: i32, s: &str, scale: i32, c: Rgb<u8>) {
        self.glyphs(s, c, |k, col, row| (x + (k * font::ADVANCE + col) * scale, y + row * scale, scale));
    }

    /// Text turned a quarter left (read bottom to top), starting at (x, bottom).
    fn text_up(&mut self, x: i32, bottom: i32, s: &str, c: Rgb<u8>) {
        self.glyphs(s, c, |k, col, row| (x + row, bottom - k * font::ADVANCE - col, 1));
    }

    /// Draw the set pixels of each glyph of `s` where `at(char index, column, row)` puts them.
    fn glyphs(&mut self, s: &str, c: Rgb<u8>, at: impl Fn(i32, i32, i32) -> (i32, i32, i32)) {
        for (k, ch) in s.chars().enumerate() {
            let rows = glyph(ch);
            for (row, bits) in (0..).zip(rows) {
                for col in (0..font::W).filter(|col| bits >> (font::W - 1 - col) & 1 == 1) {
                    let (px, py, size) = at(k as i32, col, row);
                    self.rect(px, py, size, size, c);
                }
            }
        }
    }

    fn save(self, path: &Path) -> Result<()> {
        let name = path.display().to_string();
        self.0.save_with_format(path, ImageFormat::Png).map_err(|e| match e {
            ImageError::IoError(err) => Error::Io { path: name, err },
            e => Error::Invalid(format!("{name}: cannot write the PNG: {e}")),
        })
    }
}

/// Round tick positions covering [lo, hi] at a step of 1, 2 or 5 × 10^k (at least `min_step`),
/// about `target` of them, with their labels.
fn ticks(lo: f64, hi: f64, target: f64, min_step: f64) -> Vec<(f64, String)> {
    let raw = ((hi - lo) / target).max(min_step);
    let mag = 10f64.powf(raw.log10().floor());
    let step = mag * [(1.5, 1.0), (3.0, 2.0), (7.0, 5.0)].iter().find(|(below, _)| raw / mag < *below).map_or(10.0, |m| m.1);
    let decimals = (-step.log10().floor()).clamp(0.0, 15.0) as usize;
    let exp_decimals = (hi.abs().max(lo.abs()).log10().floor() - step.log10().floor()).clamp(0.0, 6.0) as usize;
    let label = |v: f64| if step >= 1e6 { format!("{v:.exp_decimals$e}") } else { format!("{v:.decimals$}") };
    let first = (lo / step).ceil() as i64;
    (first..first.saturating_add(64))
        .map(|k| k as f64 * step)
        .take_while(|v| *v <= hi + step * 1e-9)
        .map(|v| (v, label(v)))
        .collect()
}

/// Line chart of several series over epochs (x = 1..=len), auto y-range with a little margin,
/// one palette colour per series and a legend with the series names; NaN/inf points are
/// skipped (the line breaks there). 640×400 pixels.
pub fn line_chart(path: &Path, title: &str, series: &[(&str, &[f64])]) -> Result<()> {
    let (w, h) = (CHART_W as i32, CHART_H as i32);
    let finite = || series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo > hi {
        (0.0, 1.0) // nothing finite to plot
    } else if lo == hi {
        (lo - lo.abs().max(1.0) * 0.1, hi + hi.abs().max(1.0) * 0.1)
    } else {
        (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05)
    };
    if !(hi - lo).is_finite() {
        return Err(Error::Invalid(format!("{}: values too large to plot", path.display())));
    }
    let yticks = ticks(lo, hi, 6.0, 0.0);
    let left = 12 + yticks.iter().map(|(_, l)| text_width(l, 1)).max().unwrap_or(0) + 6;
    let right = w - 16;

    let mut cv = Canvas::new(w, h);
    let title_scale = if text_width(title, 2) <= w - 20 { 2 } else { 1 };
    cv.text((w - text_width(title, title_scale)) / 2, 10, title, title_scale, INK);

    // Legend: a colour swatch and the name of each series, in rows under the title.
    let colour = |i: usize| Rgb(PALETTE[i % PALETTE.len()]);
    let (mut lx, mut ly) = (left, 34);
    for (i, (name, _)) in series.iter().enumerate() {
        let item_w = 18 + text_width(name, 1);
        if lx > left && lx + item_w > right {
            (lx, ly) = (left, ly + 12);
        }
        cv.rect(lx, ly + 2, 14, 3, colour(i));
        cv.text(lx + 18, ly, name, 1, INK);
        lx += item_w + 16;
    }
    let legend_h = if series.is_empty() { 0 } else { 12 };
    let top = ly + legend_h + 8;
    let bottom = h - 40;
    if bottom - top < 60 {
        return Err(Error::Invalid(format!("{}: too many series to fit the legend", path.display())));
    }

    let n = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let (xlo, xhi) = if n <= 1 { (0.5, 1.5) } else { (1.0, n as f64) };
    let px = |x: f64| left + 6 + ((x - xlo) / (xhi - xlo) * (right - left - 12) as f64).round() as i32;
    let py = |y: f64| bottom - ((y - lo) / (hi - lo) * (bottom - top) as f64).round() as i32;

    for (v, label) in &yticks {
        let y = py(*v);
        cv.rect(left, y, right - left, 1, GRID);
        cv.rect(left - 4, y, 4, 1, AXIS);
        cv.text(left - 6 - text_width(label, 1), y - font::H / 2, label, 1, INK);
    }
    for (v, label) in ticks(xlo, xhi, 8.0, 1.0) {
        let x = px(v);
        cv.rect(x, top, 1, bottom - top, GRID);
        cv.rect(x, bottom, 1, 4, AXIS);
        cv.text(x - text_width(&label, 1) / 2, bottom + 7, &label, 1, INK);
    }
    cv.text((left + right - text_width("epoch", 1)) / 2, bottom + 22, "epoch", 1, INK);

    for (i, (_, values)) in series.iter().enumerate() {
        let point = |j: usize| values.get(j).filter(|v| v.is_finite()).map(|&v| (px(j as f64 + 1.0), py(v)));
        for j in 0..values.len() {
            let Some(p) = point(j) else { continue };
            if let Some(q) = point(j + 1) {
                cv.line(p, q, 2, colour(i));
            }
            let isolated = j.checked_sub(1).and_then(point).is_none() && point(j + 1).is_none();
            if values.len() <= 40 || isolated {
                cv.rect(p.0 - 2, p.1 - 2, 5, 5, colour(i));
            }
        }
    }
    cv.outline(left, top, right - left + 1, bottom - top + 1, AXIS);
    cv.save(path)
}

/// Confusion-matrix heat map: true classes down the side, predicted classes along the bottom,
/// the count in each cell and the cell shaded by its share of the row (the class's recall on
/// the diagonal). The image grows with the number of classes and the width of the names.
pub fn confusion_png(path: &Path, title: &str, c: &Confusion) -> Result<()> {
    let n = c.classes.len() as i32;
    if n == 0 || c.counts.len() != c.classes.len() || c.counts.iter().any(|row| row.len() != c.classes.len()) {
        return Err(Error::Invalid(format!("{}: the confusion matrix must be n×n with n ≥ 1", path.display())));
    }
    let max = c.counts.iter().flatten().max().copied().unwrap_or(0);
    let cell = (text_width(&max.to_string(), 1) + 12).max(40);
    let name_w = c.classes.iter().map(|s| text_width(s, 1)).max().unwrap_or(0);
    let upright = name_w > cell - 4;
    let title_scale = 2;

    let left = 10 + font::H + 10 + name_w + 8;
    let top = 10 + font::H * title_scale + 14;
    let grid = n * cell;
    let labels_h = if upright { name_w } else { font::H };
    let pred_y = top + grid + 6 + labels_h + 10;
    let w = (left + grid + 20).max(text_width(title, title_scale) + 20);
    let h = pred_y + font::H + 10;
    if w > 4096 || h > 4096 {
        return Err(Error::Invalid(format!("{}: {n} classes (or the title) are too many to draw", path.display())));
    }

    let mut cv = Canvas::new(w, h);
    cv.text((w - text_width(title, title_scale)) / 2, 10, title, title_scale, INK);
    cv.text_up(10, top + (grid + text_width("true", 1)) / 2, "true", INK);
    cv.text(left + (grid - text_width("pred", 1)) / 2, pred_y, "pred", 1, INK);

    for (i, (name, row)) in (0..).zip(c.classes.iter().zip(&c.counts)) {
        let y = top + i * cell;
        cv.text(left - 8 - text_width(name, 1), y + (cell - font::H) / 2, name, 1, INK);
        let support: u64 = row.iter().sum();
        for (j, &count) in (0..).zip(row) {
            let x = left + j * cell;
            let share = if support == 0 { 0.0 } else { count as f64 / support as f64 };
            let shade = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * share).round() as u8;
            cv.rect(x, y, cell, cell, Rgb([shade(247, 8), shade(251, 48), shade(255, 107)]));
            let label = count.to_string();
            let ink = if share > 0.5 { WHITE } else { INK };
            cv.text(x + (cell - text_width(&label, 1) + 1) / 2, y + (cell - font::H) / 2, &label, 1, ink);
        }
    }
    for k in 0..=n {
        cv.rect(left, top + k * cell, grid + 1, 1, AXIS);
        cv.rect(left + k * cell, top, 1, grid + 1, AXIS);
    }
    for (j, name) in (0..).zip(&c.classes) {
        let x = left + j * cell + cell / 2;
        if upright {
            cv.text_up(x - font::H / 2, top + grid + 6 + text_width(name, 1), name, INK);
        } else {
            cv.text(x - text_width(name, 1) / 2, top + grid + 6, name, 1, INK);
        }
    }
    cv.save(path)
}
