//! The batch loader: iterates a dataset for one epoch in NCHW f32 batches, decoding on a
//! background thread a few batches ahead (bounded channel) so that the GPU is not starved.
//! Order, augmentation and therefore every batch are a function of (seed, epoch).

use super::augment::Augment;
use super::image::{check_args, load, load_augmented, truncation, Normalize};
use crate::rng::{derive, Rng};
use super::{Dataset, Sample};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Batches decoded ahead of the consumer.
const PREFETCH: usize = 2;
const SHUFFLE_STREAM: u64 = 0x5_u64 << 60;
const AUGMENT_STREAM: u64 = 0xA_u64 << 60;

#[derive(Clone, Debug)]
pub struct LoaderCfg {
    /// Images are resized to `size`×`size`.
    pub size: usize,
    /// 1 (luma) or 3 (RGB).
    pub channels: usize,
    pub batch: usize,
    /// Seeded shuffle of (seed, epoch) when true, dataset order when false.
    pub shuffle: bool,
    /// Train-time augmentation, seeded per (seed, epoch, sample index).
    pub augment: Option<Augment>,
    pub norm: Normalize,
    pub seed: u64,
    /// Stop with an error at the first unreadable image instead of skipping it.
    pub strict: bool,
    /// Count a truncated image file (see `image::truncation`) as unreadable instead of using
    /// it, with a warning, as the decoder filled it in.
    pub reject_truncated: bool,
    /// Drop the last batch when it is smaller than `batch`.
    pub drop_last: bool,
}

impl LoaderCfg {
    /// Inference over a split: dataset order, no augmentation, unreadable images skipped.
    pub fn inference(size: usize, channels: usize, batch: usize, norm: Normalize) -> LoaderCfg {
        LoaderCfg { size, channels, batch, shuffle: false, augment: None, norm, seed: 0, strict: false, reject_truncated: false, drop_last: false }
    }
}

/// One batch: `x` holds `n` images, NCHW; `labels[i]` and `indices[i]` (index into the
/// dataset's samples) belong to image `i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
    pub n: usize,
    pub indices: Vec<usize>,
}

/// Iterator over one epoch's batches. A corrupt or unreadable image is skipped with a one-line
/// warning on stderr and counted in `skipped()` (the next images fill its place, so batches stay
/// full); with `strict` the iteration ends with an `Err` naming the file instead. A truncated
/// file is used with a warning, or counts as unreadable with `reject_truncated`.
pub struct Loader {
    rx: Receiver<Result<Batch>>,
    worker: Option<JoinHandle<()>>,
    skipped: Arc<AtomicUsize>,
    batches: usize,
}

impl Loader {
    /// Starts decoding epoch `epoch` of `ds` (the sample list is copied to the worker thread).
    /// A bad `cfg` is reported as the first item of the iteration.
    pub fn new(ds: &Dataset, cfg: LoaderCfg, epoch: u64) -> Loader {
        let (tx, rx) = sync_channel(PREFETCH);
        let skipped = Arc::new(AtomicUsize::new(0));
        let n = ds.len();
        let batches = match (cfg.batch, cfg.drop_last) {
            (0, _) => 0,
            (b, true) => n / b,
            (b, false) => n.div_ceil(b),
        };
        let worker = match check_cfg(&cfg) {
            Err(e) => {
                // The channel has room for it; the receiver is alive: this cannot fail.
                let _ = tx.send(Err(e));
                None
            }
            Ok(()) => {
                let mut order: Vec<usize> = (0..n).collect();
                if cfg.shuffle {
                    Rng::new(derive(&[cfg.seed, epoch, SHUFFLE_STREAM])).shuffle(&mut order);
                }
                let samples = ds.samples.clone();
                let count = Arc::clone(&skipped);
                let err_tx = tx.clone();
                let work = move || produce(&samples, &order, &cfg, epoch, &count, &tx);
                match std::thread::Builder::new().name("heft-data".into()).spawn(work) {
                    Ok(handle) => Some(handle),
                    Err(e) => {
                        let msg = format!("could not start the data loader thread: {e}; free some memory or threads");
                        let _ = err_tx.send(Err(Error::Invalid(msg)));
                        None
                    }
                }
            }
        };
        Loader { rx, worker, skipped, batches }
    }

    /// Images skipped so far by the decoding thread (it may run a few batches ahead of the
    /// batches received; exact once the iteration has ended).
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Batches in the epoch when no image is skipped (skipped images can make it fewer).
    pub fn batches_per_epoch(&self) -> usize {
        self.batches
    }
}

impl Iterator for Loader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        match self.rx.recv() {
            Ok(item) => Some(item),
            // All sent: the worker has finished (or never started). A panic is a bug: say so.
            Err(_) => match self.worker.take().map(JoinHandle::join) {
                Some(Err(_)) => Some(Err(Error::Invalid(
                    "the data loader thread panicked; this is a bug in heft, please report it".into(),
                ))),
                _ => None,
            },
        }
    }
}

fn check_cfg(cfg: &LoaderCfg) -> Result<()> {
    if cfg.batch == 0 {
        return Err(Error::Invalid("batch size 0: use a batch size of at least 1".into()));
    }
    check_args(cfg.size, cfg.channels, cfg.norm)?;
    cfg.augment.as_ref().map_or(Ok(()), Augment::check)
}

/// The worker: decodes `order` into batches and sends them; stops early when the receiver is
/// gone or (strict) at the first unreadable image.
fn produce(
    samples: &[Sample],
    order: &[usize],
    cfg: &LoaderCfg,
    epoch: u64,
    skipped: &AtomicUsize,
    tx: &SyncSender<Result<Batch>>,
) {
    let per_image = cfg.channels * cfg.size * cfg.size;
    let capacity = cfg.batch.min(order.len()) * per_image;
    let empty = || Batch { x: Vec::with_capacity(capacity), labels: Vec::new(), n: 0, indices: Vec::new() };
    let mut batch = empty();
    for &i in order {
        let sample = &samples[i];
        let cut = truncation(&sample.path);
        let px = match (&cfg.augment, cut) {
            (_, Some(why)) if cfg.reject_truncated => Err(Error::Invalid(format!(
                "{}: {why}; replace the file, or leave out --strict to use it as the decoder fills it in",
                sample.path.display()
            ))),
            (augment, _) => {
                if let Some(why) = cut {
                    eprintln!("warning: {}: {why}; the missing part is filled in (--strict skips such images)", sample.path.display());
                }
                match augment {
                    Some(a) => {
                        let seed = derive(&[cfg.seed, epoch, i as u64, AUGMENT_STREAM]);
                        load_augmented(sample, cfg.size, cfg.channels, cfg.norm, a, seed)
                    }
                    None => load(sample, cfg.size, cfg.channels, cfg.norm),
                }
            }
        };
        match px {
            Ok(px) => {
                batch.x.extend_from_slice(&px);
                batch.labels.push(sample.label);
                batch.indices.push(i);
                batch.n += 1;
            }
            Err(e) if cfg.strict => {
                let _ = tx.send(Err(e));
                return;
            }
            Err(e) => {
                eprintln!("warning: skipped an image: {e}");
                skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if batch.n == cfg.batch && tx.send(Ok(std::mem::replace(&mut batch, empty()))).is_err() {
            return;
        }
    }
    if batch.n > 0 && !cfg.drop_last {
        let _ = tx.send(Ok(batch));
    }
}
