//! GPU tensor: a shape, a dtype and a pooled storage buffer. NCHW f32 by convention; u32 for
//! labels and pooling indices. Clones share the buffer; `reshape` is a view (no copy). When the
//! last clone drops, the buffer goes back to the pool of its `Gpu`.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
}

struct Storage {
    buf: Option<wgpu::Buffer>,
    gpu: Gpu,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            self.gpu.give_buffer(b, false);
        }
    }
}

#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    dtype: DType,
    storage: Arc<Storage>,
    /// Byte offset of a view into its storage (0 for whole tensors).
    offset: u64,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.shape, self.dtype)
    }
}

fn numel_of(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    /// Uninitialised tensor (pooled memory; the kernel that fills it must write every element).
    pub fn empty(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Tensor> {
        if shape.contains(&0) {
            return Err(Error::shape("tensor", format!("shape {shape:?} has a zero-sized dimension")));
        }
        let bytes = numel_of(shape) as u64 * 4;
        let buf = gpu.take_buffer(bytes, false)?;
        Ok(Tensor { shape: shape.to_vec(), dtype, storage: Arc::new(Storage { buf: Some(buf), gpu: gpu.clone() }), offset: 0 })
    }

    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        let t = Tensor::empty(gpu, shape, DType::F32)?;
        gpu.clear(t.bind());
        Ok(t)
    }

    pub fn from_f32(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel_of(shape) {
            return Err(Error::shape("upload", format!("{} values for shape {shape:?}", data.len())));
        }
        let t = Tensor::empty(gpu, shape, DType::F32)?;
        gpu.write(t.buffer(), t.offset, bytemuck::cast_slice(data))?;
        Ok(t)
    }

    pub fn from_u32(gpu: &Gpu, data: &[u32], shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel_of(shape) {
            return Err(Error::shape("upload", format!("{} values for shape {shape:?}", data.len())));
        }
        let t = Tensor::empty(gpu, shape, DType::U32)?;
        gpu.write(t.buffer(), t.offset, bytemuck::cast_slice(data))?;
        Ok(t)
    }

    /// Overwrite the contents with host data of the same length.
    pub fn write_f32(&self, data: &[f32]) -> Result<()> {
        if data.len() != self.numel() || self.dtype != DType::F32 {
            return Err(Error::shape("write", format!("{} f32 values into {:?}", data.len(), self)));
        }
        self.gpu().write(self.buffer(), self.offset, bytemuck::cast_slice(data))
    }

    pub fn to_f32(&self) -> Result<Vec<f32>> {
        if self.dtype != DType::F32 {
            return Err(Error::shape("download", format!("{self:?} is not f32")));
        }
        let bytes = self.gpu().read(self.bind())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    pub fn to_u32(&self) -> Result<Vec<u32>> {
        if self.dtype != DType::U32 {
            return Err(Error::shape("download", format!("{self:?} is not u32")));
        }
        let bytes = self.gpu().read(self.bind())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// A copy in a fresh buffer.
    pub fn deep_clone(&self) -> Result<Tensor> {
        let t = Tensor::empty(self.gpu(), &self.shape, self.dtype)?;
        self.gpu().copy(self.bind(), t.bind());
        Ok(t)
    }

    /// Overwrite this tensor with `src` (same shape and dtype), on the GPU.
    pub fn copy_from(&self, src: &Tensor) -> Result<()> {
        if src.shape != self.shape || src.dtype != self.dtype {
            return Err(Error::shape("copy", format!("{src:?} into {self:?}")));
        }
        self.gpu().copy(src.bind(), self.bind());
        Ok(())
    }

    /// Same data, new shape (same number of elements); no copy.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel_of(shape) != self.numel() {
            return Err(Error::shape("reshape", format!("{:?} cannot be viewed as {shape:?}", self.shape)));
        }
        Ok(Tensor { shape: shape.to_vec(), dtype: self.dtype, storage: self.storage.clone(), offset: self.offset })
    }

    /// A view of `shape` starting `start` elements into this tensor (no copy). The start must
    /// fall on the device's storage offset alignment (`Gpu::chunk_elems` chunks do).
    pub fn view(&self, start: usize, shape: &[usize]) -> Result<Tensor> {
        let align = (self.gpu().limits().min_storage_buffer_offset_alignment as u64).max(4);
        let offset = self.offset + start as u64 * 4;
        if start + numel_of(shape) > self.numel() || !offset.is_multiple_of(align) {
            return Err(Error::shape("view", format!("{shape:?} at element {start} of {:?} (offset {offset} must be a multiple of {align})", self.shape)));
        }
        Ok(Tensor { shape: shape.to_vec(), dtype: self.dtype, storage: self.storage.clone(), offset })
    }

    /// The byte range of this tensor, for binding to a kernel.
    pub fn bind(&self) -> crate::gpu::Bind<'_> {
        crate::gpu::Bind { buf: self.buffer(), offset: self.offset, size: self.bytes() }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn numel(&self) -> usize {
        numel_of(&self.shape)
    }
    pub fn bytes(&self) -> u64 {
        self.numel() as u64 * 4
    }
    pub fn gpu(&self) -> &Gpu {
        &self.storage.gpu
    }
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buf.as_ref().expect("storage buffer is present until drop")
    }
    /// True when both tensors share one buffer (views of one tensor do).
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// True when both are the same elements of one buffer (same storage, offset and size).
    pub fn same_view(&self, other: &Tensor) -> bool {
        self.same_storage(other) && self.offset == other.offset && self.numel() == other.numel()
    }

    /// When `end` is a view of this tensor's buffer starting at or after this one: the view
    /// from this tensor's first element to `end`'s last, and how many elements `end` starts
    /// after this one.
    pub fn span_to(&self, end: &Tensor) -> Option<(Tensor, usize)> {
        if !self.same_storage(end) || end.offset < self.offset || self.dtype != end.dtype {
            return None;
        }
        let d = ((end.offset - self.offset) / 4) as usize;
        Some((Tensor { shape: vec![d + end.numel()], dtype: self.dtype, storage: self.storage.clone(), offset: self.offset }, d))
    }

    /// Checks used by op wrappers: `Shape` error naming the op when the shape differs.
    pub fn expect_shape(&self, op: &'static str, name: &str, shape: &[usize]) -> Result<()> {
        if self.shape != shape {
            return Err(Error::shape(op, format!("{name} has shape {:?}, expected {shape:?}", self.shape)));
        }
        Ok(())
    }

    pub fn expect_rank(&self, op: &'static str, name: &str, rank: usize) -> Result<()> {
        if self.shape.len() != rank {
            return Err(Error::shape(op, format!("{name} has shape {:?}, expected rank {rank}", self.shape)));
        }
        Ok(())
    }

    pub fn expect_dtype(&self, op: &'static str, name: &str, dtype: DType) -> Result<()> {
        if self.dtype != dtype {
            return Err(Error::shape(op, format!("{name} is {:?}, expected {dtype:?}", self.dtype)));
        }
        Ok(())
    }
}
