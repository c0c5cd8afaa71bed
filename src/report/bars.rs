//! The comparison chart of an experiment: one row per run, a bar per metric (test accuracy and
//! macro-F1, mean over seeds on a 0–1 axis) with a ± one standard deviation whisker, and the
//! figures written beside the bars. Drawn with the line charts' font and colours (`plot`).

use super::plot::{font, label_style, save, text_width, Picture, AXIS, GRID, INK, LABEL_PX, PALETTE, TITLE_PX};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// One row: a label and, per metric, the mean and standard deviation (None: not finished).
pub struct BarRow {
    pub label: String,
    pub values: Vec<Option<(f64, Option<f64>)>>,
}

const ROW_H: i32 = 30;
const PLOT_W: i32 = 420;
const FIGURES_W: i32 = 240;

struct Bars<'a> {
    title: &'a str,
    metrics: &'a [&'a str],
    rows: &'a [BarRow],
    left: i32,
    size: (u32, u32),
}

impl Picture for Bars<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (left, top) = (self.left, 10 + TITLE_PX as i32 + 30);
        let bottom = top + self.rows.len() as i32 * ROW_H;
        let x = |v: f64| left + (v.clamp(0.0, 1.0) * PLOT_W as f64).round() as i32;
        let text = |colour, anchor| label_style(LABEL_PX, colour, anchor);
        area.fill(&WHITE)?;
        area.draw_text(self.title, &label_style(TITLE_PX, INK, (HPos::Center, VPos::Top)), (self.size.0 as i32 / 2, 10))?;
        // legend, grid and axis
        for (m, name) in self.metrics.iter().enumerate() {
            let [r, g, b] = PALETTE[m % PALETTE.len()];
            let lx = left + m as i32 * 140;
            area.draw(&Rectangle::new([(lx, top - 22), (lx + 14, top - 12)], RGBColor(r, g, b).filled()))?;
            area.draw_text(name, &text(INK, (HPos::Left, VPos::Center)), (lx + 20, top - 17))?;
        }
        for k in 0..=4 {
            let v = k as f64 / 4.0;
            area.draw(&PathElement::new([(x(v), top), (x(v), bottom)], if k == 0 { AXIS } else { GRID }))?;
            area.draw_text(&format!("{v:.2}"), &text(INK, (HPos::Center, VPos::Top)), (x(v), bottom + 6))?;
        }
        let bar_h = (ROW_H - 8) / self.metrics.len().max(1) as i32;
        for (i, row) in self.rows.iter().enumerate() {
            let y0 = top + i as i32 * ROW_H + 4;
            area.draw_text(&row.label, &text(INK, (HPos::Right, VPos::Center)), (left - 8, y0 + (ROW_H - 8) / 2))?;
            let mut figures = Vec::new();
            for (m, v) in row.values.iter().enumerate() {
                let [r, g, b] = PALETTE[m % PALETTE.len()];
                let (y, colour) = (y0 + m as i32 * bar_h, RGBColor(r, g, b));
                let Some((mean, std)) = v else {
                    figures.push("—".to_string());
                    continue;
                };
                area.draw(&Rectangle::new([(x(0.0), y), (x(*mean), y + bar_h - 1)], colour.filled()))?;
                if let Some(s) = std {
                    let yc = y + bar_h / 2;
                    area.draw(&PathElement::new([(x(mean - s), yc), (x(mean + s), yc)], INK.stroke_width(1)))?;
                }
                figures.push(std.map(|s| format!("{mean:.3}±{s:.3}")).unwrap_or_else(|| format!("{mean:.3}")));
            }
            area.draw_text(&figures.join("  "), &text(INK, (HPos::Left, VPos::Center)), (x(1.0) + 10, y0 + (ROW_H - 8) / 2))?;
        }
        Ok(())
    }
}

/// A bar chart of `rows` (values in [0, 1]) for `metrics`; SVG if `path` ends in `.svg`, else PNG.
pub fn bar_chart(path: &Path, title: &str, metrics: &[&str], rows: &[BarRow]) -> Result<()> {
    if rows.is_empty() || rows.iter().any(|r| r.values.len() != metrics.len()) {
        return Err(Error::Invalid(format!("{}: a bar chart needs rows with one value per metric", path.display())));
    }
    font()?;
    let label_w = rows.iter().map(|r| text_width(&r.label, LABEL_PX)).try_fold(0, |a, w| w.map(|w| a.max(w)))?;
    let left = 10 + label_w + 10;
    let w = (left + PLOT_W + 10 + FIGURES_W).max(text_width(title, TITLE_PX)? + 20);
    let h = 10 + TITLE_PX as i32 + 30 + rows.len() as i32 * ROW_H + 30;
    if w > 4096 || h > 8192 {
        return Err(Error::Invalid(format!("{}: {} rows (or their labels) are too many to draw", path.display(), rows.len())));
    }
    save(path, &Bars { title, metrics, rows, left, size: (w as u32, h as u32) })
}
