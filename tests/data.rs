//! Tests of the data module: folder and COVIDx loaders, splits, preprocessing, the batch
//! loader and the synthetic generator. Fixtures are tiny PNGs written to a fresh temp folder.

use heft::data::{
    image::load_augmented, load, open_splits, synth, Augment, Batch, Dataset, Loader, LoaderCfg, Normalize, Sample,
};
use image::{GrayImage, Luma, Rgb, RgbImage};
use std::path::{Path, PathBuf};

/// A fresh folder under the system temp dir, removed when dropped (also when a test fails).
struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Tmp {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("heft-data-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gray(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    GrayImage::from_fn(w, h, |x, y| Luma([f(x, y)])).save(path).unwrap();
}

fn err_text<T: std::fmt::Debug>(r: heft::Result<T>) -> String {
    r.unwrap_err().to_string()
}

const RAW: Normalize = Normalize { mean: 0.0, std: 1.0 };

fn cfg(size: usize, channels: usize, batch: usize) -> LoaderCfg {
    LoaderCfg {
        size,
        channels,
        batch,
        shuffle: false,
        augment: None,
        norm: Normalize::default(),
        seed: 7,
        strict: false,
        reject_truncated: false,
        drop_last: false,
    }
}

fn collect(ds: &Dataset, cfg: LoaderCfg, epoch: u64) -> Vec<Batch> {
    Loader::new(ds, cfg, epoch).map(|b| b.unwrap()).collect()
}

/// `n` constant gray images per class (value 20 * (class + 1)), 8x8.
fn folder_fixture(t: &Tmp, root: &str, counts: &[usize]) -> PathBuf {
    let root = t.path(root);
    for (c, &n) in counts.iter().enumerate() {
        for i in 0..n {
            gray(&root.join(format!("class{c}/{i}.png")), 8, 8, |_, _| 20 * (c as u8 + 1));
        }
    }
    root
}

#[test]
fn folder_classes_counts_and_errors() {
    let t = Tmp::new("folder");
    let root = folder_fixture(&t, "ds", &[3, 2]);
    gray(&root.join("class1/UPPER.PNG"), 4, 4, |_, _| 0);
    RgbImage::from_pixel(4, 4, Rgb([1, 2, 3])).save(root.join("class1/c.jpeg")).unwrap();
    std::fs::write(root.join("class1/notes.txt"), "not an image").unwrap();
    std::fs::write(root.join("README.txt"), "ignored").unwrap();
    let ds = Dataset::folder(&root).unwrap();
    assert_eq!(ds.classes, ["class0", "class1"]);
    assert_eq!(ds.class_counts(), [3, 4]);
    assert_eq!(ds.len(), 7);
    assert!(ds.samples.iter().all(|s| s.crop.is_none()));

    std::fs::create_dir_all(root.join("class2")).unwrap();
    let e = err_text(Dataset::folder(&root));
    assert!(e.contains("class2") && e.contains("no .png"), "{e}");

    let e = err_text(Dataset::folder(&t.path("nowhere")));
    assert!(e.contains("nowhere") && e.contains("does not exist"), "{e}");

    std::fs::create_dir_all(t.path("empty")).unwrap();
    let e = err_text(Dataset::folder(&t.path("empty")));
    assert!(e.contains("no class sub-folders"), "{e}");
}

#[test]
fn covidx_cxr_labels_and_errors() {
    let t = Tmp::new("cxr");
    let imgs = t.path("imgs");
    for name in ["a.png", "b.png", "c d.png", "e.png", "f.png"] {
        gray(&imgs.join(name), 4, 4, |_, _| 9);
    }
    let labels = t.path("train_split.txt");
    let text = "p1 a.png positive sirm\n\n# comment\np2 b.png negative rsna\np3 c d.png negative bimcv\np4 e.png positive cohen\np5 f.png\u{3000}negative x\n";
    std::fs::write(&labels, text).unwrap();
    let ds = Dataset::covidx_cxr(&labels, &imgs, None).unwrap();
    assert_eq!(ds.classes, ["negative", "positive"]);
    let got: Vec<(String, u32)> =
        ds.samples.iter().map(|s| (s.path.file_name().unwrap().to_string_lossy().into(), s.label)).collect();
    let want = [("a.png", 1), ("b.png", 0), ("c d.png", 0), ("e.png", 1), ("f.png", 0)];
    assert_eq!(got, want.map(|(n, l)| (n.to_string(), l)));

    let given = ["positive".to_string(), "negative".to_string()];
    let ds = Dataset::covidx_cxr(&labels, &imgs, Some(&given)).unwrap();
    assert_eq!(ds.class_counts(), [2, 3]);
    assert_eq!(ds.samples[0].label, 0);

    let only = ["COVID-19".to_string(), "normal".to_string()];
    let e = err_text(Dataset::covidx_cxr(&labels, &imgs, Some(&only)));
    assert!(e.contains("train_split.txt:1") && e.contains("positive"), "{e}");

    std::fs::write(&labels, "p1 a.png positive sirm\np9 gone.png negative rsna\n").unwrap();
    let e = err_text(Dataset::covidx_cxr(&labels, &imgs, None));
    assert!(e.contains("train_split.txt:2") && e.contains("gone.png"), "{e}");

    std::fs::write(&labels, "p1 a.png\n").unwrap();
    let e = err_text(Dataset::covidx_cxr(&labels, &imgs, None));
    assert!(e.contains("train_split.txt:1") && e.contains("patient_id filename label source"), "{e}");
}

#[test]
fn covidx_ct_crop_and_errors() {
    let t = Tmp::new("ct");
    let imgs = t.path("imgs");
    // Left half black, right half white: the box keeps only the white half.
    gray(&imgs.join("s1.png"), 16, 8, |x, _| if x >= 8 { 255 } else { 0 });
    gray(&imgs.join("s2.png"), 16, 8, |_, _| 100);
    let labels = t.path("val_COVIDx_CT-2A.txt");
    std::fs::write(&labels, "s1.png 2 8 0 16 8\ns2.png 0 0 0 16 8\n").unwrap();
    let ds = Dataset::covidx_ct(&labels, &imgs, None).unwrap();
    assert_eq!(ds.classes, ["normal", "pneumonia", "covid"]);
    assert_eq!(ds.samples[0].label, 2);
    assert_eq!(ds.samples[0].crop, Some([8, 0, 16, 8]));
    let px = load(&ds.samples[0], 4, 1, RAW).unwrap();
    assert!(px.iter().all(|&v| (v - 1.0).abs() < 1e-6), "crop not applied: {px:?}");
    let uncropped = Sample { crop: None, ..ds.samples[0].clone() };
    let px = load(&uncropped, 4, 1, RAW).unwrap();
    assert!(px[0] < 0.01 && px[3] > 0.99, "{px:?}");
    // A box reaching past the image is clipped; one entirely outside is an error naming the file.
    let past = Sample { crop: Some([8, 0, 99, 99]), ..uncropped.clone() };
    assert!(load(&past, 4, 1, RAW).unwrap().iter().all(|&v| v > 0.99));
    let outside = Sample { crop: Some([20, 0, 30, 8]), ..uncropped };
    let e = err_text(load(&outside, 4, 1, RAW));
    assert!(e.contains("s1.png") && e.contains("outside"), "{e}");

    std::fs::write(&labels, "s1.png 0 0 0 16 8\ns2.png 3 0 0 16 8\n").unwrap();
    let e = err_text(Dataset::covidx_ct(&labels, &imgs, None));
    assert!(e.contains("val_COVIDx_CT-2A.txt:2") && e.contains("class index 3"), "{e}");
    let two = ["a".to_string(), "b".to_string()];
    std::fs::write(&labels, "s1.png 2 0 0 16 8\n").unwrap();
    assert!(err_text(Dataset::covidx_ct(&labels, &imgs, Some(&two))).contains(":1"));
    std::fs::write(&labels, "s1.png 0 0 0 16 8\nmissing.png 1 0 0 4 4\n").unwrap();
    let e = err_text(Dataset::covidx_ct(&labels, &imgs, None));
    assert!(e.contains("val_COVIDx_CT-2A.txt:2") && e.contains("missing.png"), "{e}");
    std::fs::write(&labels, "s1.png 0 x 0 16 8\n").unwrap();
    assert!(err_text(Dataset::covidx_ct(&labels, &imgs, None)).contains(":1"));
    std::fs::write(&labels, "s1.png 0 8 0 8 8\n").unwrap();
    assert!(err_text(Dataset::covidx_ct(&labels, &imgs, None)).contains("empty box"));
}

#[test]
fn split_is_stratified_and_deterministic() {
    let sample = |i: usize, label| Sample { path: PathBuf::from(format!("{i}.png")), label, crop: None };
    let ds = Dataset {
        classes: vec!["a".into(), "b".into()],
        samples: (0..140).map(|i| sample(i, u32::from(i % 7 < 2))).collect(),
    };
    assert_eq!(ds.class_counts(), [100, 40]);
    let (tr, va, te) = ds.split(0.7, 0.15, 1);
    assert_eq!(tr.class_counts(), [70, 28]);
    assert_eq!(va.class_counts(), [15, 6]);
    assert_eq!(te.class_counts(), [15, 6]);
    let mut all: Vec<PathBuf> = [&tr, &va, &te].iter().flat_map(|d| d.samples.iter().map(|s| s.path.clone())).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 140, "the parts must be disjoint and cover the dataset");
    assert_eq!(ds.split(0.7, 0.15, 1), (tr.clone(), va, te));
    assert_ne!(ds.split(0.7, 0.15, 2).0, tr);
    assert_eq!(ds.split(2.0, 0.5, 1).0.len(), 140, "fractions are clamped");
}

#[test]
fn open_splits_split_and_flat() {
    let t = Tmp::new("splits");
    for split in ["train", "val", "test"] {
        folder_fixture(&t, &format!("split/{split}"), &[2, 1]);
    }
    let (tr, va, te) = open_splits(&t.path("split"), 0).unwrap();
    assert_eq!((tr.len(), va.len(), te.len()), (3, 3, 3));
    assert_eq!(tr.classes, ["class0", "class1"]);

    folder_fixture(&t, "flat", &[20, 20]);
    let (tr, va, te) = open_splits(&t.path("flat"), 0).unwrap();
    assert_eq!((tr.class_counts(), va.class_counts(), te.class_counts()), (vec![14, 14], vec![3, 3], vec![3, 3]));

    std::fs::remove_dir_all(t.path("split/test")).unwrap();
    assert!(err_text(open_splits(&t.path("split"), 0)).contains("test/"));
    folder_fixture(&t, "split/test", &[1, 1, 1]);
    assert!(err_text(open_splits(&t.path("split"), 0)).contains("same class folders"));
}

#[test]
fn loader_shapes_channels_and_normalisation() {
    let t = Tmp::new("loader");
    let root = t.path("ds");
    for i in 0..10 {
        gray(&root.join(format!("c/{i}.png")), 12, 9, |_, _| 200);
    }
    let ds = Dataset::folder(&root).unwrap();
    let expect = (200.0 / 255.0 - 0.5) / 0.25;
    for channels in [1, 3] {
        let loader = Loader::new(&ds, cfg(6, channels, 4), 0);
        assert_eq!(loader.batches_per_epoch(), 3);
        let batches: Vec<Batch> = loader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.iter().map(|b| b.n).collect::<Vec<_>>(), [4, 4, 2]);
        for b in &batches {
            assert_eq!(b.x.len(), b.n * channels * 6 * 6);
            assert_eq!((b.labels.len(), b.indices.len()), (b.n, b.n));
            assert!(b.x.iter().all(|&v| (v - expect).abs() < 1e-5), "channels {channels}");
        }
        let order: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    }
    let dropped = Loader::new(&ds, LoaderCfg { drop_last: true, ..cfg(6, 1, 4) }, 0);
    assert_eq!(dropped.batches_per_epoch(), 2);
    assert_eq!(dropped.map(|b| b.unwrap().n).collect::<Vec<_>>(), [4, 4]);

    // RGB input: channels stay apart in CHW order; luma mixes them.
    let rgb = Sample { path: t.path("rgb.png"), label: 0, crop: None };
    RgbImage::from_pixel(5, 5, Rgb([255, 0, 0])).save(&rgb.path).unwrap();
    let px = load(&rgb, 2, 3, RAW).unwrap();
    assert_eq!(px, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let luma = load(&rgb, 2, 1, RAW).unwrap();
    assert!(luma.iter().all(|&v| v > 0.1 && v < 0.4), "{luma:?}");

    // Bad settings are reported by the first item, not a panic.
    let mut bad = Loader::new(&ds, cfg(6, 2, 4), 0);
    assert!(bad.next().unwrap().unwrap_err().to_string().contains("channels"));
    assert!(bad.next().is_none());
    let mut bad = Loader::new(&ds, cfg(6, 1, 0), 0);
    assert!(bad.next().unwrap().is_err());
    let aug = Augment { crop_scale: (0.0, 1.0), ..Augment::default() };
    let mut bad = Loader::new(&ds, LoaderCfg { augment: Some(aug), ..cfg(6, 1, 4) }, 0);
    assert!(bad.next().unwrap().unwrap_err().to_string().contains("crop_scale"));
}

#[test]
fn loader_is_deterministic_per_seed_and_epoch() {
    let t = Tmp::new("determinism");
    let root = t.path("ds");
    for i in 0..12 {
        gray(&root.join(format!("c{}/{i}.png", i % 2)), 16, 16, |x, y| ((x * 13 + y * 7 + i * 5) % 256) as u8);
    }
    let ds = Dataset::folder(&root).unwrap();
    let train = LoaderCfg { shuffle: true, augment: Some(Augment::default()), ..cfg(8, 3, 5) };
    let a = collect(&ds, train.clone(), 3);
    assert_eq!(a, collect(&ds, train.clone(), 3), "same seed and epoch must give the same batches");
    let b = collect(&ds, train.clone(), 4);
    let order = |bs: &[Batch]| bs.iter().flat_map(|b| b.indices.clone()).collect::<Vec<_>>();
    assert_ne!(order(&a), order(&b), "another epoch must give another order");
    let mut sorted = order(&b);
    sorted.sort();
    assert_eq!(sorted, (0..12).collect::<Vec<_>>());
    assert_ne!(a, collect(&ds, LoaderCfg { seed: 8, ..train.clone() }, 3));
    for bt in &a {
        for (k, &i) in bt.indices.iter().enumerate() {
            assert_eq!(bt.labels[k], ds.samples[i].label);
        }
    }

    // Augmentation changes the pixels, is reproducible per seed, and keeps them normalised [0, 1].
    let s = &ds.samples[0];
    let aug = Augment { rotate_deg: 20.0, vflip: true, ..Augment::default() };
    let plain = load(s, 8, 1, RAW).unwrap();
    let x1 = load_augmented(s, 8, 1, RAW, &aug, 1).unwrap();
    assert_eq!(x1, load_augmented(s, 8, 1, RAW, &aug, 1).unwrap());
    assert_ne!(x1, plain);
    assert!(x1.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let none = Augment { crop_scale: (1.0, 1.0), hflip: false, vflip: false, rotate_deg: 0.0, brightness: 0.0, contrast: 0.0 };
    assert_eq!(load_augmented(s, 8, 1, RAW, &none, 5).unwrap(), plain);
}

#[test]
fn loader_skips_or_stops_on_corrupt_files() {
    let t = Tmp::new("corrupt");
    let root = folder_fixture(&t, "ds", &[3, 3]);
    std::fs::write(root.join("class0/1.png"), b"this is not a png").unwrap();
    let ds = Dataset::folder(&root).unwrap();

    let mut loader = Loader::new(&ds, cfg(4, 1, 4), 0);
    let batches: Vec<Batch> = loader.by_ref().map(|b| b.unwrap()).collect();
    assert_eq!(batches.iter().map(|b| b.n).collect::<Vec<_>>(), [4, 1], "the next image fills the gap");
    assert!(batches.iter().all(|b| !b.indices.contains(&1)));
    assert_eq!(loader.skipped(), 1);

    let results: Vec<_> = Loader::new(&ds, LoaderCfg { strict: true, ..cfg(4, 1, 4) }, 0).collect();
    assert_eq!(results.len(), 1, "strict mode ends the iteration at the bad file");
    let e = results.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(e.contains("1.png") && e.contains("decode"), "{e}");

    std::fs::remove_file(root.join("class1/0.png")).unwrap();
    let e = err_text(load(&ds.samples[3], 4, 1, RAW));
    assert!(e.contains("0.png"), "{e}");
}

#[test]
fn truncated_files_are_found_and_used_with_a_warning_or_rejected() {
    let t = Tmp::new("truncated");
    let root = folder_fixture(&t, "ds", &[0, 1]);
    let (png, jpeg) = (root.join("class0/0.png"), root.join("class0/1.jpg"));
    gray(&png, 64, 64, |x, y| (x * 3 + y * 5) as u8);
    gray(&jpeg, 64, 64, |x, y| (x * 3 + y * 5) as u8);
    assert_eq!(heft::data::image::truncation(&png), None);
    assert_eq!(heft::data::image::truncation(&jpeg), None);
    for path in [&png, &jpeg] {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() * 2 / 3]).unwrap();
        assert!(heft::data::image::truncation(path).unwrap().contains("truncated"), "{path:?}");
    }
    let ds = Dataset::folder(&root).unwrap();
    // by default the truncated JPEG is used (its decoder fills the missing part in)
    let used: Vec<usize> = Loader::new(&ds, cfg(4, 1, 4), 0).flat_map(|b| b.unwrap().indices).collect();
    assert!(used.contains(&1) && used.contains(&2), "{used:?}");
    let mut loader = Loader::new(&ds, LoaderCfg { reject_truncated: true, ..cfg(4, 1, 4) }, 0);
    let used: Vec<usize> = loader.by_ref().flat_map(|b| b.unwrap().indices).collect();
    assert_eq!(used, [2], "rejected as unreadable");
    assert_eq!(loader.skipped(), 2);
    let first = Loader::new(&ds, LoaderCfg { strict: true, reject_truncated: true, ..cfg(4, 1, 4) }, 0).next().unwrap();
    assert!(err_text(first).contains("truncated"));
}

/// Mean and standard deviation of both lungs' central regions (nominal lung positions).
fn lung_stats(path: &Path) -> (f64, f64) {
    let img = image::open(path).unwrap().to_luma8();
    let s = img.width() as f64;
    let mut v = Vec::new();
    for cx in [0.32, 0.68] {
        for y in (0.41 * s) as u32..(0.57 * s) as u32 {
            for x in ((cx - 0.04) * s) as u32..((cx + 0.04) * s) as u32 {
                v.push(img.get_pixel(x, y)[0] as f64 / 255.0);
            }
        }
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    (mean, var.sqrt())
}

#[test]
fn synth_structure_determinism_and_class_statistics() {
    let t = Tmp::new("synth");
    let out = t.path("a");
    let started = std::time::Instant::now();
    synth::generate(&out, 3, 48, (40, 2, 3), 11, 1.0).unwrap();
    assert!(started.elapsed().as_secs_f64() < 5.0);
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(readme.contains("SYNTHETIC") && readme.contains("seed: 11"), "{readme}");
    let (tr, va, te) = open_splits(&out, 0).unwrap();
    assert_eq!(tr.classes, synth::class_names(3));
    assert_eq!((tr.class_counts(), va.class_counts(), te.class_counts()), (vec![40; 3], vec![2; 3], vec![3; 3]));
    let first = image::open(&tr.samples[0].path).unwrap();
    assert_eq!((first.width(), first.height(), first.color()), (48, 48, image::ColorType::L8));

    // Same seed, same bytes; regenerating into an earlier synthetic folder replaces it.
    let other = t.path("b");
    synth::generate(&other, 3, 48, (40, 2, 3), 11, 1.0).unwrap();
    synth::generate(&out, 3, 48, (40, 2, 3), 11, 1.0).unwrap();
    for s in tr.samples.iter().chain(&va.samples).chain(&te.samples) {
        let rel = s.path.strip_prefix(&out).unwrap();
        assert_eq!(std::fs::read(&s.path).unwrap(), std::fs::read(other.join(rel)).unwrap());
    }
    synth::generate(&other, 2, 48, (1, 1, 1), 12, 1.0).unwrap();
    assert!(!other.join("train/2_diffuse").exists(), "stale classes must go");
    assert_ne!(std::fs::read(other.join("train/0_normal/00000.png")).unwrap(), std::fs::read(&tr.samples[0].path).unwrap());

    // Lesions and mottling brighten the lungs on average and make them less uniform.
    let mut mean = [0.0; 3];
    let mut sd = [0.0; 3];
    for s in &tr.samples {
        let (m, d) = lung_stats(&s.path);
        mean[s.label as usize] += m / 40.0;
        sd[s.label as usize] += d / 40.0;
    }
    assert!(mean[1] > mean[0] && mean[2] > mean[0], "lung means {mean:?}");
    assert!(sd[1] > sd[0] + 0.01 && sd[2] > sd[0] + 0.008, "lung std {sd:?}");

    for (classes, size) in [(4, 64), (1, 64), (2, 8)] {
        assert!(synth::generate(&t.path("bad"), classes, size, (1, 1, 1), 0, 1.0).is_err());
    }
    std::fs::create_dir_all(t.path("mine")).unwrap();
    std::fs::write(t.path("mine/keep.txt"), "user data").unwrap();
    let e = err_text(synth::generate(&t.path("mine"), 2, 32, (1, 1, 1), 0, 1.0));
    assert!(e.contains("not a heft synthetic dataset"), "{e}");
    assert!(t.path("mine/keep.txt").exists());
}
