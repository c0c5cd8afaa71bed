//! GPU runtime: the `Gpu` handle and its device queries, wired from one file per job: adapter
//! and device choice (`adapter`), the buffer pool (`pool`), the pipeline cache (`pipelines`),
//! the layouts of kernel parameter blocks (`layout`),
//! the command recorder that batches a step's work into one submit (`recorder`), dispatch
//! recording (`dispatch`) and the optional per-kernel profiler (`profiler`), which watches the
//! recorder through its submit hook.

mod adapter;
mod dispatch;
pub mod layout;
mod pipelines;
mod pool;
pub mod profiler;
mod recorder;
pub mod shaders;
pub mod tuning;

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

pub use adapter::{list_adapters, AdapterChoice};
pub use pool::{MemoryUse, DEFAULT_POOL_BYTES};
use profiler::Profiler;
pub use profiler::{chrome_trace, KernelTime, TraceEvent};
use recorder::SubmitHook;
pub use shaders::{Spec, SHADERS};

/// A byte range of a buffer bound to a kernel (a whole tensor or a view of one).
#[derive(Clone, Copy)]
pub struct Bind<'a> {
    pub buf: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

/// A storage buffer of a dispatch, by the name of the shader's global it binds (`"x"` for
/// `@binding(1) var<storage, read> x`): naga's reflection gives the binding index.
pub type Binding<'a> = (&'static str, Bind<'a>);

pub struct GpuInner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pipelines: pipelines::Pipelines,
    pool: pool::Pool,
    rec: recorder::Recorder,
    dummy: wgpu::Buffer,
    /// The first uncaptured wgpu error (or device loss) since the last check.
    error: Arc<Mutex<Option<GpuError>>>,
    profiler: Option<Profiler>,
    tuning: Mutex<tuning::Tuning>,
    /// Every kernel compiled with runtime checks (`AdapterChoice::shader_checks`).
    shader_checks: bool,
}

/// An error wgpu reported outside a call that returns one.
enum GpuError {
    Validation(String),
    /// Out of memory, or the device lost.
    OutOfMemory(String),
}

/// Handle to the GPU: cheap to clone, shared by all tensors created from it.
#[derive(Clone)]
pub struct Gpu(pub(crate) Arc<GpuInner>);

impl Gpu {
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.0.info
    }

    /// Whether kernels may use subgroup operations, with subgroups of at least `lanes`
    /// invocations.
    pub fn has_subgroups(&self, lanes: u32) -> bool {
        self.0.device.features().contains(wgpu::Features::SUBGROUP) && self.0.info.subgroup_min_size >= lanes
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }

    /// One line naming the adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn describe(&self) -> String {
        let i = &self.0.info;
        format!("{} ({:?}, {:?}, driver {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info)
    }

    /// The kernel-variant choices of this adapter (`ops::gemm`, `heft tune`).
    pub fn tuning(&self) -> std::sync::MutexGuard<'_, tuning::Tuning> {
        self.0.tuning.lock().unwrap()
    }

    /// Largest byte size a single storage binding may have.
    pub fn max_binding(&self) -> u64 {
        self.0.limits.max_storage_buffer_binding_size.min(self.0.limits.max_buffer_size)
    }

    /// A tiny read-only buffer to bind where a kernel's optional input is unused.
    pub fn dummy(&self) -> Bind<'_> {
        Bind { buf: &self.0.dummy, offset: 0, size: 16 }
    }

    /// Largest number of f32 elements a chunk of a split 1-D operation may bind, a multiple of
    /// the storage offset alignment so that every chunk starts on an aligned byte offset.
    pub fn chunk_elems(&self) -> usize {
        let align = (self.0.limits.min_storage_buffer_offset_alignment as u64).max(4) / 4;
        ((self.max_binding() / 4) / align * align) as usize
    }

    /// Fails with `TooLarge` when `bytes` cannot be bound as one storage buffer.
    pub fn check_binding(&self, op: &'static str, what: &str, bytes: u64) -> Result<()> {
        let limit = self.max_binding();
        if bytes > limit {
            return Err(Error::TooLarge { op, what: what.to_string(), size: bytes, limit, unit: "bytes" });
        }
        Ok(())
    }

    /// Split `n` workgroups over x and y so that neither exceeds the device limit.
    pub fn grid(&self, n: u64) -> Result<[u32; 3]> {
        let max = self.0.limits.max_compute_workgroups_per_dimension as u64;
        let n = n.max(1);
        if n <= max {
            return Ok([n as u32, 1, 1]);
        }
        let y = n.div_ceil(max);
        if y > max {
            return Err(Error::TooLarge {
                op: "dispatch",
                what: "a 1-D grid".into(),
                size: n,
                limit: max * max,
                unit: "workgroups",
            });
        }
        Ok([max as u32, y as u32, 1])
    }

    /// What watches the recorder's passes and submits: the profiler, when opened for it.
    fn hook(&self) -> Option<&dyn SubmitHook> {
        self.0.profiler.as_ref().map(|p| p as &dyn SubmitHook)
    }

    /// `e`, unless wgpu reported an error first that explains it (a lost device fails every
    /// read-back and wait after it).
    fn explain(&self, e: Error) -> Error {
        self.check_error().err().unwrap_or(e)
    }

    fn check_error(&self) -> Result<()> {
        match self.0.error.lock().unwrap().take() {
            Some(GpuError::Validation(e)) => Err(Error::Gpu(e)),
            Some(GpuError::OutOfMemory(e)) => Err(Error::OutOfMemory(e)),
            None => Ok(()),
        }
    }
}
