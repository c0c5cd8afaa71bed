//! The buffer pool: a training loop returns its buffers here and takes them again on the next
//! step instead of allocating, keyed by (rounded size, read-back or storage). Idle bytes are
//! capped: a buffer returned past the cap is freed, so buffers of sizes no longer asked for
//! (another batch or input size) cannot pile up. Counts the bytes allocated through it (in use
//! plus idle) and their high-water mark; an allocation wgpu refuses for lack of memory is an
//! error that says what to lower.

use super::Gpu;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// Idle bytes the pool keeps when neither `AdapterChoice::pool_bytes` nor `HEFT_POOL_BYTES`
/// says otherwise: 1 GiB. A steady training step returns and retakes the same sizes, so the cap
/// only frees buffers of shapes a run stopped using; 1 GiB holds a step's activations at the
/// default recipes (a few hundred MiB) and is a quarter of the smallest GPU heft targets (4 GiB).
pub const DEFAULT_POOL_BYTES: u64 = 1 << 30;

/// Bytes of GPU memory held through the pool (`Gpu::memory`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes of every buffer heft allocated and has not freed: in use by tensors plus idle.
    pub allocated: u64,
    /// Of those, bytes idle in the pool.
    pub idle: u64,
    /// The largest `allocated` seen since the GPU was opened.
    pub high_water: u64,
    /// The cap on `idle`.
    pub cap: u64,
}

/// Free buffers by (byte size, whether they are MAP_READ staging buffers), and the counters.
struct Free {
    buffers: HashMap<(u64, bool), Vec<wgpu::Buffer>>,
    used: MemoryUse,
}

pub(super) struct Pool(Mutex<Free>);

impl Pool {
    pub(super) fn new(cap: u64) -> Pool {
        Pool(Mutex::new(Free { buffers: HashMap::new(), used: MemoryUse { cap, ..Default::default() } }))
    }
}

impl Gpu {
    /// A storage buffer of at least `bytes` bytes from the pool (contents undefined).
    pub(crate) fn take_buffer(&self, bytes: u64, readback: bool) -> Result<wgpu::Buffer> {
        let size = bytes.max(16).div_ceil(16) * 16;
        if size > self.0.limits.max_buffer_size {
            return Err(Error::TooLarge {
                op: "alloc",
                what: "a buffer".into(),
                size,
                limit: self.0.limits.max_buffer_size,
                unit: "bytes",
            });
        }
        {
            let free = &mut *self.0.pool.0.lock().unwrap();
            if let Some(b) = free.buffers.get_mut(&(size, readback)).and_then(|v| v.pop()) {
                free.used.idle -= size;
                return Ok(b);
            }
        }
        let usage = if readback {
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST
        } else {
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
        };
        let scope = self.0.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buf = self.0.device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false });
        if let Some(e) = pollster::block_on(scope.pop()) {
            let held = self.memory().allocated;
            return Err(Error::OutOfMemory(format!("out of GPU memory allocating {size} bytes with {held} bytes already allocated by heft: {e}")));
        }
        self.check_error()?;
        let mut free = self.0.pool.0.lock().unwrap();
        let used = &mut free.used;
        used.allocated += size;
        used.high_water = used.high_water.max(used.allocated);
        Ok(buf)
    }

    /// Return a buffer: kept for reuse while the pool's idle bytes stay within its cap, else freed.
    pub(crate) fn give_buffer(&self, buf: wgpu::Buffer, readback: bool) {
        let free = &mut *self.0.pool.0.lock().unwrap();
        let size = buf.size();
        if free.used.idle + size <= free.used.cap {
            free.used.idle += size;
            free.buffers.entry((size, readback)).or_default().push(buf);
        } else {
            // dropped, not destroyed: recorded work not yet submitted may still use it, and
            // wgpu frees it once that work is done
            free.used.allocated -= size;
            drop(buf);
        }
    }

    /// Bytes of GPU memory heft holds through its pool now, and their high-water mark. Fixed
    /// buffers opened with the device (parameter arena, profiler queries) are not counted.
    pub fn memory(&self) -> MemoryUse {
        self.0.pool.0.lock().unwrap().used
    }
}
