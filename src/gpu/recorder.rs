//! The command recorder: all work of a step (dispatches, clears, copies) goes into one shared
//! command encoder and is submitted together; the small per-dispatch parameter blocks live in
//! one uniform arena written once per submit. Counts dispatches, submits and host read-backs. Whatever
//! watches submits (the profiler) plugs in through `SubmitHook`.

use super::pipelines::KernelId;
use super::{Bind, Gpu};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Bytes reserved per dispatch for its parameter block (`var<uniform> p`).
pub(super) const PARAM_SLOT: u64 = 256;
/// Parameter blocks per submit; the recorder flushes when the arena is full.
pub(super) const PARAM_SLOTS: u64 = 4096;

/// An observer of the recorder's compute passes and submits.
pub(super) trait SubmitHook: Sync {
    /// Whether a submit must come before the next pass (the hook has no room for it).
    fn full(&self) -> bool;
    /// The timestamp writes of the next compute pass, which dispatches `kernel` over `groups`.
    fn pass(&self, kernel: KernelId, groups: [u32; 3]) -> Option<wgpu::ComputePassTimestampWrites<'_>>;
    /// Called with a submit's encoder just before it is finished.
    fn before_submit(&self, enc: &mut wgpu::CommandEncoder);
    /// Called after the submit; may wait for the GPU.
    fn after_submit(&self, device: &wgpu::Device) -> Result<()>;
}

/// What has been recorded since the last submit.
pub(super) struct Open {
    pub(super) encoder: Option<wgpu::CommandEncoder>,
    /// Parameter blocks of this submit's dispatches, `PARAM_SLOT` bytes each.
    pub(super) params: Vec<u8>,
}

pub(super) struct Recorder {
    pub(super) open: Mutex<Open>,
    /// The uniform buffer the parameter blocks are written to at each submit.
    pub(super) arena: wgpu::Buffer,
    submits: AtomicU64,
    reads: AtomicU64,
    /// Buffer-to-buffer copies recorded.
    copies: AtomicU64,
    /// Kernel dispatches recorded.
    pub(super) dispatches: AtomicU64,
}

impl Recorder {
    pub(super) fn new(device: &wgpu::Device) -> Recorder {
        let arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: PARAM_SLOT * PARAM_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let open = Mutex::new(Open { encoder: None, params: Vec::new() });
        Recorder { open, arena, submits: AtomicU64::new(0), reads: AtomicU64::new(0), copies: AtomicU64::new(0), dispatches: AtomicU64::new(0) }
    }
}

/// Wait for the GPU, then copy the first `bytes` of a MAP_READ buffer to the host.
pub(super) fn map_read(device: &wgpu::Device, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
    let slice = buf.slice(0..bytes);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
    rx.recv()
        .map_err(|_| Error::Gpu("buffer map callback never ran".into()))?
        .map_err(|e| Error::Gpu(format!("reading a buffer back: {e}")))?;
    let out = slice.get_mapped_range().map(|view| view.to_vec());
    buf.unmap();
    out.map_err(|e| Error::Gpu(e.to_string()))
}

impl Gpu {
    /// The open command encoder, created when nothing is recorded yet.
    pub(super) fn encoder<'a>(&self, open: &'a mut Open) -> &'a mut wgpu::CommandEncoder {
        open.encoder.get_or_insert_with(|| {
            self.0.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        })
    }

    /// Write host bytes into `buf`. Pending kernels are submitted first: `write_buffer` runs
    /// before the commands of the next submit, and a pooled buffer may still be read by them.
    pub(crate) fn write(&self, buf: &wgpu::Buffer, offset: u64, bytes: &[u8]) -> Result<()> {
        self.flush()?;
        self.0.queue.write_buffer(buf, offset, bytes);
        Ok(())
    }

    /// Zero a byte range, in order with the recorded kernels.
    pub(crate) fn clear(&self, b: Bind<'_>) {
        let mut open = self.0.rec.open.lock().unwrap();
        let enc = self.encoder(&mut open);
        enc.clear_buffer(b.buf, b.offset, Some(b.size.div_ceil(4) * 4));
    }

    /// Copy one byte range onto another of the same size, in order with the recorded kernels.
    pub(crate) fn copy(&self, src: Bind<'_>, dst: Bind<'_>) {
        self.0.rec.copies.fetch_add(1, Relaxed);
        let mut open = self.0.rec.open.lock().unwrap();
        let enc = self.encoder(&mut open);
        enc.copy_buffer_to_buffer(src.buf, src.offset, dst.buf, dst.offset, Some(src.size.div_ceil(4) * 4));
    }

    /// Read a byte range back to the host (submits and waits).
    pub(crate) fn read(&self, b: Bind<'_>) -> Result<Vec<u8>> {
        self.0.rec.reads.fetch_add(1, Relaxed);
        let (buf, offset, bytes) = (b.buf, b.offset, b.size);
        let bytes4 = bytes.div_ceil(4) * 4;
        let staging = self.take_buffer(bytes4, true)?;
        {
            let mut open = self.0.rec.open.lock().unwrap();
            let enc = self.encoder(&mut open);
            enc.copy_buffer_to_buffer(buf, offset, &staging, 0, Some(bytes4));
        }
        self.flush()?;
        let mut out = map_read(&self.0.device, &staging, bytes4).map_err(|e| self.explain(e))?;
        self.give_buffer(staging, true);
        out.truncate(bytes as usize);
        self.check_error()?;
        Ok(out)
    }

    /// Submit what `open` holds: the parameter blocks first, then the encoder.
    pub(super) fn submit(&self, open: &mut Open) -> Result<()> {
        let Some(mut enc) = open.encoder.take() else { return Ok(()) };
        if !open.params.is_empty() {
            self.0.queue.write_buffer(&self.0.rec.arena, 0, &open.params);
            open.params.clear();
        }
        let hook = self.hook();
        if let Some(h) = hook {
            h.before_submit(&mut enc);
        }
        self.0.queue.submit([enc.finish()]);
        self.0.rec.submits.fetch_add(1, Relaxed);
        match hook {
            Some(h) => h.after_submit(&self.0.device),
            None => Ok(()),
        }
    }

    /// Submit everything recorded so far.
    pub fn flush(&self) -> Result<()> {
        self.submit(&mut self.0.rec.open.lock().unwrap())?;
        self.check_error()
    }

    /// Submit and wait until the GPU is idle.
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.explain(Error::Gpu(format!("waiting for the GPU: {e}"))))?;
        self.check_error()
    }

    /// Submits to the GPU queue and read-backs to the host since the GPU was opened.
    pub fn round_trips(&self) -> (u64, u64) {
        (self.0.rec.submits.load(Relaxed), self.0.rec.reads.load(Relaxed))
    }

    /// Kernel dispatches recorded since the GPU was opened (each costs ~50 us of host and
    /// driver time on lavapipe, and a launch on any GPU).
    pub fn dispatches(&self) -> u64 {
        self.0.rec.dispatches.load(Relaxed)
    }

    /// Buffer-to-buffer copies recorded since the GPU was opened.
    pub fn copies(&self) -> u64 {
        self.0.rec.copies.load(Relaxed)
    }
}
