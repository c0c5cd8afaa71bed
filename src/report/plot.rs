//! Charts through plotters: line charts of per-epoch metrics and confusion-matrix heat maps.
//! A path ending in `.svg` gets an SVG file, any other a PNG (drawn into an RGB buffer and
//! encoded with `image`). Text uses DejaVu Sans, shipped in `assets/fonts` and compiled in, so
//! no system fonts are needed.

use super::metrics::Confusion;
use crate::error::{Error, Result};
use image::{ImageFormat, RgbImage};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

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
pub(super) const INK: RGBColor = RGBColor(30, 30, 30);
pub(super) const AXIS: RGBColor = RGBColor(110, 110, 110);
pub(super) const GRID: RGBColor = RGBColor(228, 228, 228);

/// Line-chart size in pixels.
pub const CHART_W: u32 = 640;
pub const CHART_H: u32 = 400;

/// The family the shipped font is registered under: the generic name, so that SVG viewers
/// (which do not get the font) fall back to their own sans-serif.
const FAMILY: &str = "sans-serif";
pub(super) const TITLE_PX: f64 = 20.0;
pub(super) const LABEL_PX: f64 = 13.0;

/// A picture of a known size that can be drawn on any plotters backend.
pub(super) trait Picture {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Register DejaVu Sans with plotters (once per process).
pub(super) fn font() -> Result<()> {
    static OK: OnceLock<bool> = OnceLock::new();
    let bytes = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
    if *OK.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok()) {
        Ok(())
    } else {
        Err(Error::Invalid("the chart font compiled in from assets/fonts/DejaVuSans.ttf is not a valid TrueType font".into()))
    }
}

/// Width in pixels of `text` at `px`.
pub(super) fn text_width(text: &str, px: f64) -> Result<i32> {
    let (w, _) = FontDesc::new(FontFamily::Name(FAMILY), px, FontStyle::Normal)
        .box_size(text)
        .map_err(|e| Error::Invalid(format!("cannot lay out the chart text {text:?}: {e}")))?;
    Ok(w as i32)
}

pub(super) fn label_style(px: f64, colour: RGBColor, anchor: (HPos, VPos)) -> TextStyle<'static> {
    (FAMILY, px).into_font().color(&colour).pos(Pos::new(anchor.0, anchor.1))
}

/// Draw `pic` and write it to `path`: SVG when the path ends in `.svg`, PNG otherwise.
pub(super) fn save(path: &Path, pic: &impl Picture) -> Result<()> {
    font()?;
    let name = path.display().to_string();
    let drawn = |e: String| Error::Invalid(format!("{name}: cannot draw the chart: {e}"));
    let (w, h) = pic.size();
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            pic.draw(&area).map_err(|e| drawn(e.to_string()))?;
            area.present().map_err(|e| drawn(e.to_string()))?;
        }
        return crate::fsx::write(path, svg.as_bytes());
    }
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        pic.draw(&area).map_err(|e| drawn(e.to_string()))?;
        area.present().map_err(|e| drawn(e.to_string()))?;
    }
    let img = RgbImage::from_raw(w, h, rgb).ok_or_else(|| drawn(format!("the pixel buffer does not hold {w}×{h} pixels")))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png).map_err(|e| Error::Invalid(format!("{name}: cannot encode the PNG: {e}")))?;
    crate::fsx::write(path, png.get_ref())
}

struct LineChart<'a> {
    title: &'a str,
    series: &'a [(&'a str, &'a [f64])],
    x: Range<i32>,
    y: Range<f64>,
}

impl Picture for LineChart<'_> {
    fn size(&self) -> (u32, u32) {
        (CHART_W, CHART_H)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        area.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(area)
            .caption(self.title, label_style(TITLE_PX, INK, (HPos::Center, VPos::Top)))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(self.x.clone(), self.y.clone())?;
        let epochs = (self.x.end - self.x.start + 1) as usize;
        chart
            .configure_mesh()
            .x_labels(epochs.min(10))
            .y_labels(6)
            .x_desc("epoch")
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .label_style(label_style(LABEL_PX, INK, (HPos::Center, VPos::Center)))
            .draw()?;
        for (i, (name, values)) in self.series.iter().enumerate() {
            let [r, g, b] = PALETTE[i % PALETTE.len()];
            let colour = RGBColor(r, g, b);
            // One path per run of finite values: the line breaks at NaN/inf.
            let runs = values.split(|v| !v.is_finite()).scan(0, |start, run| {
                let path: Vec<(i32, f64)> = run.iter().enumerate().map(|(k, &v)| ((*start + k) as i32 + 1, v)).collect();
                *start += run.len() + 1;
                Some(path)
            });
            chart
                .draw_series(runs.filter(|p| p.len() > 1).map(|p| PathElement::new(p, colour.stroke_width(2))))?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 1), (x + 14, y + 2)], colour.filled()));
            // A marker on every point of a short series, and on points with no line through them.
            let point = |j: usize| values.get(j).filter(|v| v.is_finite()).map(|&v| (j as i32 + 1, v));
            let isolated = |j: usize| j.checked_sub(1).and_then(point).is_none() && point(j + 1).is_none();
            let marked = (0..values.len()).filter(|&j| values.len() <= 40 || isolated(j)).filter_map(point);
            chart.draw_series(marked.map(|p| EmptyElement::at(p) + Rectangle::new([(-2, -2), (2, 2)], colour.filled())))?;
        }
        if !self.series.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(AXIS)
                .label_font(label_style(LABEL_PX, INK, (HPos::Left, VPos::Center)))
                .draw()?;
        }
        Ok(())
    }
}

/// Line chart of several series over epochs (x = 1..=len), auto y-range with a little margin,
/// one palette colour per series and a legend with the series names; NaN/inf points are
/// skipped (the line breaks there). 640×400 pixels; SVG if `path` ends in `.svg`, else PNG.
pub fn line_chart(path: &Path, title: &str, series: &[(&str, &[f64])]) -> Result<()> {
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
    let n = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0) as i32;
    let x = if n <= 1 { 0..2 } else { 1..n };
    save(path, &LineChart { title, series, x, y: lo..hi })
}

/// A confusion matrix laid out in pixels: `cell`-sized squares starting at (`left`, `top`),
/// predicted-class names turned upright when they are wider than a cell.
struct Heatmap<'a> {
    title: &'a str,
    c: &'a Confusion,
    cell: i32,
    left: i32,
    top: i32,
    upright: bool,
    pred_y: i32,
    size: (u32, u32),
}

impl Picture for Heatmap<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (cell, left, top) = (self.cell, self.left, self.top);
        let grid = self.c.classes.len() as i32 * cell;
        let text = |colour, anchor| label_style(LABEL_PX, colour, anchor);
        area.fill(&WHITE)?;
        area.draw_text(self.title, &label_style(TITLE_PX, INK, (HPos::Center, VPos::Top)), (self.size.0 as i32 / 2, 10))?;
        let up = text(INK, (HPos::Center, VPos::Center)).transform(FontTransform::Rotate270);
        area.draw_text("true", &up, (10 + LABEL_PX as i32 / 2, top + grid / 2))?;
        area.draw_text("pred", &text(INK, (HPos::Center, VPos::Top)), (left + grid / 2, self.pred_y))?;

        for (i, (name, row)) in (0..).zip(self.c.classes.iter().zip(&self.c.counts)) {
            let y = top + i * cell;
            area.draw_text(name, &text(INK, (HPos::Right, VPos::Center)), (left - 8, y + cell / 2))?;
            let support: u64 = row.iter().sum();
            for (j, &count) in (0..).zip(row) {
                let x = left + j * cell;
                let share = if support == 0 { 0.0 } else { count as f64 / support as f64 };
                let shade = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * share).round() as u8;
                let fill = RGBColor(shade(247, 8), shade(251, 48), shade(255, 107));
                area.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], fill.filled()))?;
                let ink = if share > 0.5 { WHITE } else { INK };
                area.draw_text(&count.to_string(), &text(ink, (HPos::Center, VPos::Center)), (x + cell / 2, y + cell / 2))?;
            }
        }
        for k in 0..=grid / cell {
            area.draw(&PathElement::new([(left, top + k * cell), (left + grid, top + k * cell)], AXIS))?;
            area.draw(&PathElement::new([(left + k * cell, top), (left + k * cell, top + grid)], AXIS))?;
        }
        for (j, name) in (0..).zip(&self.c.classes) {
            let at = (left + j * cell + cell / 2, top + grid + 6);
            if self.upright {
                area.draw_text(name, &text(INK, (HPos::Right, VPos::Center)).transform(FontTransform::Rotate270), at)?;
            } else {
                area.draw_text(name, &text(INK, (HPos::Center, VPos::Top)), at)?;
            }
        }
        Ok(())
    }
}

/// Confusion-matrix heat map: true classes down the side, predicted classes along the bottom,
/// the count in each cell and the cell shaded by its share of the row (the class's recall on
/// the diagonal). The image grows with the number of classes and the width of the names; SVG
/// if `path` ends in `.svg`, else PNG.
pub fn confusion_png(path: &Path, title: &str, c: &Confusion) -> Result<()> {
    let n = c.classes.len() as i32;
    if n == 0 || c.counts.len() != c.classes.len() || c.counts.iter().any(|row| row.len() != c.classes.len()) {
        return Err(Error::Invalid(format!("{}: the confusion matrix must be n×n with n ≥ 1", path.display())));
    }
    font()?;
    let max = c.counts.iter().flatten().max().copied().unwrap_or(0);
    let cell = (text_width(&max.to_string(), LABEL_PX)? + 12).max(40);
    let name_w = c.classes.iter().map(|s| text_width(s, LABEL_PX)).try_fold(0, |a, w| w.map(|w| a.max(w)))?;
    let upright = name_w > cell - 4;
    let label_h = LABEL_PX as i32;

    let left = 10 + label_h + 10 + name_w + 8;
    let top = 10 + TITLE_PX as i32 + 14;
    let grid = n * cell;
    let pred_y = top + grid + 6 + if upright { name_w } else { label_h } + 10;
    let w = (left + grid + 20).max(text_width(title, TITLE_PX)? + 20);
    let h = pred_y + label_h + 10;
    if w > 4096 || h > 4096 {
        return Err(Error::Invalid(format!("{}: {n} classes (or the title) are too many to draw", path.display())));
    }
    save(path, &Heatmap { title, c, cell, left, top, upright, pred_y, size: (w as u32, h as u32) })
}
