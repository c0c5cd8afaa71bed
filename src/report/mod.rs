//! Reports of a training run, on the host (no GPU): classification metrics (`metrics`), the
//! JSON-lines metrics log (`log`) and PNG/SVG charts drawn with plotters (`plot`; the
//! experiments' comparison bars in `bars`).

pub mod bars;
pub mod log;
pub mod metrics;
pub mod plot;

pub use log::{read_jsonl, MetricsLog};
pub use metrics::{format_summary, ClassStats, Confusion, Summary};
pub use plot::{confusion_png, line_chart};
