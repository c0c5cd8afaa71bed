//! Reports (host only, no GPU): confusion-matrix metrics against a hand-computed example, argmax
//! of logits with ties, label checks, the text summary, the metrics.jsonl round trip and its
//! error messages, and the charts: PNGs decodable, the right size, series drawn in their colours
//! where the data puts them, text rendered; SVGs holding the title, series and class names.

use heft::report::plot::{CHART_H, CHART_W, PALETTE};
use heft::report::{confusion_png, format_summary, line_chart, read_jsonl, Confusion, MetricsLog};
use heft::Error;
use serde_json::json;
use std::path::PathBuf;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// cat, dog, bird with (truth, pred) pairs such that bird is never predicted:
/// rows (true) cat [2 1 0], dog [1 2 0], bird [1 1 0].
fn example() -> Confusion {
    let mut c = Confusion::new(&names(&["cat", "dog", "bird"]));
    for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (1, 0), (2, 0), (2, 1)] {
        c.add(t, p).unwrap();
    }
    c
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("heft-report-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn metrics_of_a_hand_computed_example() {
    let c = example();
    assert_eq!(c.counts, vec![vec![2, 1, 0], vec![1, 2, 0], vec![1, 1, 0]]);
    assert_eq!(c.total(), 8);
    close(c.accuracy(), 0.5);
    for k in 0..2 {
        close(c.precision(k), 0.5); // 2 right of 4 predicted
        close(c.recall(k), 2.0 / 3.0);
        close(c.f1(k), 4.0 / 7.0);
    }
    // bird: never predicted and never right -> precision, recall and F1 are 0, not NaN.
    close(c.precision(2), 0.0);
    close(c.recall(2), 0.0);
    close(c.f1(2), 0.0);
    close(c.macro_f1(), 8.0 / 21.0);

    let s = c.summary();
    close(s.accuracy, 0.5);
    close(s.macro_f1, 8.0 / 21.0);
    assert_eq!(s.per_class.iter().map(|k| k.support).collect::<Vec<_>>(), [3, 3, 2]);
    assert_eq!(s.per_class[2].class, "bird");
    assert_eq!(s.confusion, c.counts);

    let empty = Confusion::new(&names(&["a", "b"]));
    close(empty.accuracy(), 0.0);
    close(empty.macro_f1(), 0.0);
}

#[test]
fn add_batch_takes_the_first_argmax() {
    let mut c = Confusion::new(&names(&["a", "b", "c"]));
    #[rustfmt::skip]
    let logits = [
        1.0, 3.0, 2.0, // -> b
        5.0, 5.0, 1.0, // tie a/b -> a
        0.0, 2.0, 2.0, // tie b/c -> b
        f32::NAN, 1.0, 0.0, // NaN never wins -> b
        0.0, 0.0, 0.0, // all equal -> a
    ];
    c.add_batch(&[1, 0, 2, 1, 2], &logits, 3).unwrap();
    assert_eq!(c.counts, vec![vec![1, 0, 0], vec![0, 2, 0], vec![1, 1, 0]]);
}

#[test]
fn out_of_range_labels_are_errors() {
    let mut c = example();
    for (t, p) in [(3, 0), (0, 3)] {
        match c.add(t, p) {
            Err(Error::Invalid(m)) => assert!(m.contains("label 3") && m.contains("3 classes"), "{m}"),
            r => panic!("expected an error, got {r:?}"),
        }
    }
    // A bad label anywhere in a batch adds nothing.
    let e = c.add_batch(&[0, 5], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 3).unwrap_err();
    assert!(e.to_string().contains("sample 1") && e.to_string().contains("label 5"), "{e}");
    assert!(c.add_batch(&[0, 1], &[1.0, 0.0, 0.0], 3).is_err());
    assert!(c.add_batch(&[0], &[1.0, 0.0], 2).is_err());
    assert_eq!(c.total(), 8);
}

#[test]
fn summary_table_has_the_numbers() {
    let text = format_summary(&example().summary());
    for want in ["precision", "cat", "dog", "bird", "0.5000", "0.6667", "0.5714", "0.3810", "4 of 8", "true \\ pred"] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // The confusion rows, with the names.
    assert!(text.lines().any(|l| l.split_whitespace().eq(["bird", "1", "1", "0"])), "{text}");
}

#[test]
fn metrics_log_round_trip_and_bad_lines() {
    let dir = TempDir::new("log");
    let path = dir.0.join("metrics.jsonl");
    let records = [json!({"epoch": 1, "loss": 1.5, "acc": 0.25}), json!({"epoch": 2, "loss": 0.75, "note": "a\nb"})];
    let mut log = MetricsLog::create(&path).unwrap();
    for r in &records {
        log.write(r).unwrap();
    }
    // Each record is flushed as it is written: readable before the log is dropped.
    assert_eq!(read_jsonl(&path).unwrap(), records);
    assert!(log.write(&json!([1, 2])).is_err());
    drop(log);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);

    std::fs::write(&path, "{\"epoch\": 1}\n\n{\"epoch\": 2,\n").unwrap();
    let e = read_jsonl(&path).unwrap_err().to_string();
    assert!(e.contains(&format!("{}:3:", path.display())), "{e}");
    assert!(matches!(read_jsonl(&dir.0.join("missing.jsonl")), Err(Error::Io { .. })));
}

fn decode(path: &std::path::Path) -> image::RgbImage {
    image::open(path).unwrap().to_rgb8()
}

fn has_colour(img: &image::RgbImage, c: [u8; 3]) -> bool {
    img.pixels().any(|p| p.0 == c)
}

#[test]
fn line_chart_draws_every_series() {
    let dir = TempDir::new("chart");
    let path = dir.0.join("loss.png");
    let train = [2.3, 1.6, 1.2, f64::NAN, 0.8, 0.7, 0.65];
    let val = [2.4, 1.9, 1.5, 1.4, f64::INFINITY, 1.3];
    line_chart(&path, "Loss (CIFAR-10)", &[("train loss", &train), ("val loss", &val)]).unwrap();
    let img = decode(&path);
    assert_eq!(img.dimensions(), (CHART_W, CHART_H));
    assert!(img.pixels().any(|p| p != img.get_pixel(0, 0)));
    assert!(has_colour(&img, PALETTE[0]) && has_colour(&img, PALETTE[1]));
    assert!(!has_colour(&img, PALETTE[2]));

    // Nothing finite, one point, or no series at all still make a chart.
    let empty = dir.0.join("empty.png");
    line_chart(&empty, "empty", &[("nan", &[f64::NAN]), ("one", &[])]).unwrap();
    assert_eq!(decode(&empty).dimensions(), (CHART_W, CHART_H));
    let none = dir.0.join("none.png");
    line_chart(&none, "none", &[]).unwrap();
    assert_eq!(decode(&none).dimensions(), (CHART_W, CHART_H));

    let missing = dir.0.join("no-such-dir").join("x.png");
    assert!(matches!(line_chart(&missing, "t", &[]), Err(Error::Io { .. })));
}

#[test]
fn confusion_png_scales_with_the_classes() {
    let dir = TempDir::new("confusion");
    let small = dir.0.join("small.png");
    confusion_png(&small, "Confusion", &example()).unwrap();
    let a = decode(&small);
    assert!(a.pixels().any(|p| p != a.get_pixel(0, 0)));

    let classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
    let mut c = Confusion::new(&names(&classes));
    for t in 0..10 {
        for p in 0..10 {
            for _ in 0..(if t == p { 900 } else { (t * 7 + p * 3) % 20 }) {
                c.add(t, p).unwrap();
            }
        }
    }
    let big = dir.0.join("big.png");
    confusion_png(&big, "CIFAR-10 test", &c).unwrap();
    let b = decode(&big);
    assert!(b.width() > a.width() && b.height() > a.height(), "{:?} vs {:?}", b.dimensions(), a.dimensions());
    assert!(b.width() < 1000 && b.height() < 1000, "{:?}", b.dimensions());

    assert!(confusion_png(&big, "none", &Confusion::new(&[])).is_err());
}

/// Pixels of `img` with colour `c` inside the box [x0, x1) × [y0, y1).
fn count_in(img: &image::RgbImage, c: [u8; 3], (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> usize {
    (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0 == c).count()
}

#[test]
fn line_chart_puts_the_data_where_it_belongs() {
    let dir = TempDir::new("placement");
    let path = dir.0.join("rising.png");
    // "up" climbs from the bottom-left to the top-right, "down" the other way round.
    let up: Vec<f64> = (0..20).map(|i| i as f64).collect();
    let down: Vec<f64> = up.iter().rev().copied().collect();
    line_chart(&path, "Rising", &[("up", &up), ("down", &down)]).unwrap();
    let img = decode(&path);
    assert_eq!(img.dimensions(), (CHART_W, CHART_H));
    let (w, h) = (CHART_W, CHART_H);
    // Away from the legend (top right) and the axis labels: lower left and upper middle boxes.
    let (lower_left, upper_mid) = (((w / 8, w / 3), (h / 2, h * 7 / 8)), ((w * 3 / 8, w / 2), (h / 8, h / 2)));
    assert!(count_in(&img, PALETTE[0], lower_left.0, lower_left.1) > 10, "up starts low on the left");
    assert!(count_in(&img, PALETTE[1], lower_left.0, lower_left.1) == 0, "down is high on the left");
    let left_top = ((w / 8, w / 3), (h / 8, h / 2));
    assert!(count_in(&img, PALETTE[1], left_top.0, left_top.1) > 10, "down starts high on the left");
    assert!(count_in(&img, PALETTE[0], upper_mid.0, upper_mid.1) + count_in(&img, PALETTE[1], upper_mid.0, upper_mid.1) > 0);
    // The title is text in the top band: dark pixels near the middle of it.
    let dark = |p: &image::Rgb<u8>| p.0.iter().all(|&v| v < 100);
    let title_ink = (0..30).flat_map(|y| (w / 3..w * 2 / 3).map(move |x| (x, y))).filter(|&(x, y)| dark(img.get_pixel(x, y))).count();
    assert!(title_ink > 20, "no title text drawn ({title_ink} dark pixels)");
}

#[test]
fn svg_charts_hold_their_text() {
    let dir = TempDir::new("svg");
    let chart = dir.0.join("loss.svg");
    line_chart(&chart, "Loss of run 7", &[("train loss", &[2.0, 1.0, 0.5]), ("val loss", &[2.1, 1.4, 0.9])]).unwrap();
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(&format!("width=\"{CHART_W}\"")), "{}", &svg[..svg.len().min(200)]);
    for want in ["Loss of run 7", "train loss", "val loss", "epoch"] {
        assert!(svg.contains(want), "missing {want:?} in the SVG");
    }
    let heat = dir.0.join("confusion.svg");
    confusion_png(&heat, "Pets", &example()).unwrap();
    let svg = std::fs::read_to_string(&heat).unwrap();
    for want in ["Pets", "cat", "dog", "bird", "true", "pred"] {
        assert!(svg.contains(want), "missing {want:?} in the SVG");
    }
    assert!(svg.starts_with("<svg"), "an .svg path gets SVG, not PNG");
}
