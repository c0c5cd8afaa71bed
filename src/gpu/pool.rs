//! The buffer pool: a training loop returns its buffers here and takes them again on the next
//! step instead of allocating, keyed by (rounded size, read-back or storage).

use super::Gpu;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// Free buffers by (byte size, whether they are MAP_READ staging buffers).
#[derive(Default)]
pub(super) struct Pool(Mutex<HashMap<(u64, bool), Vec<wgpu::Buffer>>>);

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
        if let Some(b) = self.0.pool.0.lock().unwrap().get_mut(&(size, readback)).and_then(|v| v.pop()) {
            return Ok(b);
        }
        let usage = if readback {
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST
        } else {
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
        };
        let buf = self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage,
            mapped_at_creation: false,
        });
        self.check_error()?;
        Ok(buf)
    }

    pub(crate) fn give_buffer(&self, buf: wgpu::Buffer, readback: bool) {
        self.0.pool.0.lock().unwrap().entry((buf.size(), readback)).or_default().push(buf);
    }
}
