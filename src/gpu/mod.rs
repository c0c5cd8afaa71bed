//! GPU runtime: adapter choice, device limits, the pipeline cache (each WGSL file compiled once),
//! a buffer pool (a training loop reuses buffers instead of allocating every step), and batched
//! dispatch: all kernels of a step are recorded into one command encoder and submitted together;
//! the small per-dispatch parameter blocks live in one uniform arena written once per submit.

mod dispatch;
pub mod profiler;
pub mod shaders;
pub mod tuning;

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use profiler::{chrome_trace, KernelTime, TraceEvent};
use profiler::Profiler;
pub use shaders::{Spec, SHADERS};

/// Bytes reserved per dispatch for its parameter block (`var<uniform> p`).
const PARAM_SLOT: u64 = 256;
/// Parameter blocks per submit; the recorder flushes when the arena is full.
const PARAM_SLOTS: u64 = 4096;

/// A byte range of a buffer bound to a kernel (a whole tensor or a view of one).
#[derive(Clone, Copy)]
pub struct Bind<'a> {
    pub buf: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

/// A bound buffer of a dispatch: `binding` index in group 0 (binding 0 is the parameter block).
pub type Binding<'a> = (u32, Bind<'a>);

struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    params: Vec<u8>,
}

/// A compiled (and specialised) shader with naga's reflection of it.
type Module = (wgpu::ShaderModule, naga::Module, naga::valid::ModuleInfo);

pub struct GpuInner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    modules: Mutex<HashMap<(&'static str, Spec), Module>>,
    kernels: Mutex<HashMap<dispatch::KernelKey, Arc<dispatch::Kernel>>>,
    pool: Mutex<HashMap<(u64, bool), Vec<wgpu::Buffer>>>,
    rec: Mutex<Recorder>,
    params: wgpu::Buffer,
    dummy: wgpu::Buffer,
    error: Arc<Mutex<Option<String>>>,
    profiler: Option<Profiler>,
    tuning: Mutex<tuning::Tuning>,
    /// Queue submits and host read-backs so far (`round_trips`).
    submits: std::sync::atomic::AtomicU64,
    reads: std::sync::atomic::AtomicU64,
}

/// Handle to the GPU: cheap to clone, shared by all tensors created from it.
#[derive(Clone)]
pub struct Gpu(pub(crate) Arc<GpuInner>);

/// Options for picking an adapter.
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Case-insensitive substring of the adapter name (falls back to `WGPU_ADAPTER_NAME`).
    pub name: Option<String>,
    /// Time every kernel with timestamp queries (`Gpu::kernel_times`); needs an adapter with
    /// TIMESTAMP_QUERY and makes every submit wait for the GPU.
    pub profile: bool,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Every adapter wgpu can see (honours `WGPU_BACKEND`).
pub fn list_adapters() -> Vec<wgpu::AdapterInfo> {
    let inst = instance();
    pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|a| a.get_info())
        .collect()
}

impl Gpu {
    /// Open the adapter chosen by `choice` (high-performance by default).
    pub fn new(choice: &AdapterChoice) -> Result<Gpu> {
        let inst = instance();
        let wanted = choice
            .name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.is_empty());
        let adapter = match wanted {
            Some(name) => {
                let all = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
                let names: Vec<String> =
                    all.iter().map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().backend)).collect();
                all.into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&name.to_lowercase()))
                    .ok_or_else(|| {
                        Error::NoAdapter(format!(
                            "no adapter name contains {name:?}; available: [{}]",
                            names.join(", ")
                        ))
                    })?
            }
            None => {
                let power = wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance);
                pollster::block_on(inst.request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: power,
                    ..Default::default()
                }))
                .map_err(|e| Error::NoAdapter(e.to_string()))?
            }
        };
        let info = adapter.get_info();
        // Ask for everything the adapter offers: wgpu's defaults cap workgroups at 256 threads,
        // 16 KiB shared memory and small storage bindings.
        let limits = adapter.limits();
        let mut features = wgpu::Features::empty();
        if choice.profile {
            if !adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
                return Err(Error::Device(format!(
                    "{} ({:?}) has no timestamp queries (TIMESTAMP_QUERY), which profiling needs",
                    info.name, info.backend
                )));
            }
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        // subgroup operations make some kernel variants possible (ops::gemm)
        features |= adapter.features() & wgpu::Features::SUBGROUP;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("heft"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Device(format!("{} ({:?}): {e}", info.name, info.backend)))?;
        let error = Arc::new(Mutex::new(None::<String>));
        let sink = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap();
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: PARAM_SLOT * PARAM_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused binding"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let profiler = choice.profile.then(|| Profiler::new(&device, &queue));
        Ok(Gpu(Arc::new(GpuInner {
            device,
            queue,
            info,
            limits,
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
            pool: Mutex::new(HashMap::new()),
            rec: Mutex::new(Recorder { encoder: None, params: Vec::new() }),
            params,
            dummy,
            error,
            profiler,
            tuning: Mutex::new(tuning::Tuning::default()),
            submits: Default::default(),
            reads: Default::default(),
        })))
    }

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

    // ---- buffers -------------------------------------------------------------------------

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
        if let Some(b) = self.0.pool.lock().unwrap().get_mut(&(size, readback)).and_then(|v| v.pop()) {
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
        self.0.pool.lock().unwrap().entry((buf.size(), readback)).or_default().push(buf);
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
        let mut rec = self.0.rec.lock().unwrap();
        let enc = self.encoder(&mut rec);
        enc.clear_buffer(b.buf, b.offset, Some(b.size.div_ceil(4) * 4));
    }

    /// Copy one byte range onto another of the same size, in order with the recorded kernels.
    pub(crate) fn copy(&self, src: Bind<'_>, dst: Bind<'_>) {
        let mut rec = self.0.rec.lock().unwrap();
        let enc = self.encoder(&mut rec);
        enc.copy_buffer_to_buffer(src.buf, src.offset, dst.buf, dst.offset, Some(src.size.div_ceil(4) * 4));
    }

    /// Read a byte range back to the host (submits and waits).
    pub(crate) fn read(&self, b: Bind<'_>) -> Result<Vec<u8>> {
        self.0.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (buf, offset, bytes) = (b.buf, b.offset, b.size);
        let bytes4 = bytes.div_ceil(4) * 4;
        let staging = self.take_buffer(bytes4, true)?;
        {
            let mut rec = self.0.rec.lock().unwrap();
            let enc = self.encoder(&mut rec);
            enc.copy_buffer_to_buffer(buf, offset, &staging, 0, Some(bytes4));
        }
        self.flush()?;
        let mut out = self.map_read(&staging, bytes4)?;
        self.give_buffer(staging, true);
        out.truncate(bytes as usize);
        self.check_error()?;
        Ok(out)
    }

    /// Wait for the GPU, then copy the first `bytes` of a MAP_READ buffer to the host.
    fn map_read(&self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let slice = buf.slice(0..bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        rx.recv()
            .map_err(|_| Error::Gpu("buffer map callback never ran".into()))?
            .map_err(|e| Error::Gpu(format!("reading a buffer back: {e}")))?;
        let out = slice.get_mapped_range().map(|view| view.to_vec());
        buf.unmap();
        out.map_err(|e| Error::Gpu(e.to_string()))
    }

    fn submit(&self, rec: &mut Recorder) -> Result<()> {
        let Some(mut enc) = rec.encoder.take() else { return Ok(()) };
        if !rec.params.is_empty() {
            self.0.queue.write_buffer(&self.0.params, 0, &rec.params);
            rec.params.clear();
        }
        // passes timed since the last submit: resolve their timestamps into the readback buffer
        let timed = self.0.profiler.as_ref().map(|p| (p, p.resolve(&mut enc))).filter(|(_, t)| !t.is_empty());
        self.0.queue.submit([enc.finish()]);
        self.0.submits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((p, timed)) = timed {
            let ticks: Vec<u64> = bytemuck::cast_slice(&self.map_read(p.readback(), 2 * timed.len() as u64 * 8)?).to_vec();
            p.account(timed, &ticks);
        }
        Ok(())
    }

    /// Submit everything recorded so far.
    pub fn flush(&self) -> Result<()> {
        self.submit(&mut self.0.rec.lock().unwrap())?;
        self.check_error()
    }

    /// GPU time per kernel since the last `reset_kernel_times`, longest first (waits for the
    /// GPU). Fails unless the adapter was opened with `AdapterChoice::profile`.
    pub fn kernel_times(&self) -> Result<Vec<KernelTime>> {
        let p = self.0.profiler.as_ref().ok_or_else(|| Error::Invalid("kernel times need a GPU opened for profiling".into()))?;
        self.sync()?;
        Ok(p.kernel_times())
    }

    /// Every timed dispatch since the last `reset_kernel_times`, in order (waits for the GPU).
    pub fn trace_events(&self) -> Result<Vec<TraceEvent>> {
        let p = self.0.profiler.as_ref().ok_or_else(|| Error::Invalid("a trace needs a GPU opened for profiling".into()))?;
        self.sync()?;
        Ok(p.events())
    }

    /// Submits to the GPU queue and read-backs to the host since the GPU was opened.
    pub fn round_trips(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.0.submits.load(Relaxed), self.0.reads.load(Relaxed))
    }

    /// Forget the kernel times gathered so far (after a warm-up, say); waits for the GPU.
    pub fn reset_kernel_times(&self) -> Result<()> {
        self.sync()?;
        if let Some(p) = &self.0.profiler {
            p.reset();
        }
        Ok(())
    }

    /// Submit and wait until the GPU is idle.
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        self.check_error()
    }

    fn check_error(&self) -> Result<()> {
        match self.0.error.lock().unwrap().take() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }
}
