//! Adapter and device choice: list the adapters wgpu sees, pick one by name (or the
//! high-performance default), and open its device with everything it offers (full limits,
//! subgroups when present, timestamp queries when profiling).

use super::profiler::Profiler;
use super::recorder::Recorder;
use super::{tuning, Gpu, GpuError, GpuInner};
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// Options for picking an adapter.
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Case-insensitive substring of the adapter name (falls back to `WGPU_ADAPTER_NAME`).
    pub name: Option<String>,
    /// Time every kernel with timestamp queries (`Gpu::kernel_times`); needs an adapter with
    /// TIMESTAMP_QUERY and makes every submit wait for the GPU.
    pub profile: bool,
    /// Cap on the bytes the buffer pool keeps idle (falls back to `HEFT_POOL_BYTES`, then
    /// `pool::DEFAULT_POOL_BYTES`); buffers returned past it are freed.
    pub pool_bytes: Option<u64>,
    /// Cap on the bytes one storage binding may span, below the adapter's own limit: tests
    /// use it to make every adapter split large work the way a small GPU must.
    pub max_binding: Option<u64>,
    /// Compile every kernel with wgpu's runtime checks (bounds, loop bounding, integer division
    /// guards), also those that `shaders::TRUSTED` lists as proven without them (falls back to
    /// `HEFT_SHADER_CHECKS=1`).
    pub shader_checks: bool,
}

/// Whether `choice` or `HEFT_SHADER_CHECKS` asks for runtime checks in every kernel.
fn shader_checks(choice: &AdapterChoice) -> Result<bool> {
    if choice.shader_checks {
        return Ok(true);
    }
    match std::env::var("HEFT_SHADER_CHECKS").as_deref() {
        Ok("1") => Ok(true),
        Ok("0") | Ok("") | Err(_) => Ok(false),
        Ok(v) => Err(Error::Invalid(format!("HEFT_SHADER_CHECKS={v:?}: set it to 1 (runtime checks in every kernel) or 0, or unset it"))),
    }
}

/// The pool cap of `choice`, else `HEFT_POOL_BYTES`, else the default.
fn pool_bytes(choice: &AdapterChoice) -> Result<u64> {
    if let Some(b) = choice.pool_bytes {
        return Ok(b);
    }
    match std::env::var("HEFT_POOL_BYTES") {
        Ok(v) if !v.is_empty() => v.trim().parse().map_err(|_| {
            Error::Invalid(format!("HEFT_POOL_BYTES={v:?} is not a byte count; set it to a whole number such as 1073741824, or unset it"))
        }),
        _ => Ok(super::pool::DEFAULT_POOL_BYTES),
    }
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

/// The adapter named by `choice` (or `WGPU_ADAPTER_NAME`), else the preferred one.
fn pick(choice: &AdapterChoice) -> Result<wgpu::Adapter> {
    let inst = instance();
    let wanted = choice
        .name
        .clone()
        .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
        .filter(|s| !s.is_empty());
    match wanted {
        Some(name) => {
            let all = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
            let names: Vec<String> =
                all.iter().map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().backend)).collect();
            all.into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&name.to_lowercase()))
                .ok_or_else(|| {
                    Error::NoAdapter(format!("no adapter name contains {name:?}; available: [{}]", names.join(", ")))
                })
        }
        None => {
            let power = wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance);
            pollster::block_on(inst.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: power,
                ..Default::default()
            }))
            .map_err(|e| Error::NoAdapter(e.to_string()))
        }
    }
}

impl Gpu {
    /// Open the adapter chosen by `choice` (high-performance by default).
    pub fn new(choice: &AdapterChoice) -> Result<Gpu> {
        let pool_cap = pool_bytes(choice)?;
        let adapter = pick(choice)?;
        let info = adapter.get_info();
        // Ask for everything the adapter offers: wgpu's defaults cap workgroups at 256 threads,
        // 16 KiB shared memory and small storage bindings. Only `max_binding` asks for less.
        let mut limits = adapter.limits();
        if let Some(b) = choice.max_binding {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(b);
        }
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
        let error = Arc::new(Mutex::new(None::<GpuError>));
        let sink = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap();
            if slot.is_none() {
                *slot = Some(match e {
                    wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory(e.to_string()),
                    _ => GpuError::Validation(e.to_string()),
                });
            }
        }));
        // a lost device (also what a driver reset after running out of memory looks like)
        // explains every error after it, so it replaces whatever came first
        let sink = error.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *sink.lock().unwrap() = Some(GpuError::OutOfMemory(format!("the GPU device was lost ({reason:?}: {msg})")));
        });
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused binding"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let profiler = choice.profile.then(|| Profiler::new(&device, &queue));
        let rec = Recorder::new(&device);
        Ok(Gpu(Arc::new(GpuInner {
            device,
            queue,
            info,
            limits,
            pipelines: Default::default(),
            pool: super::pool::Pool::new(pool_cap),
            rec,
            dummy,
            error,
            profiler,
            tuning: Mutex::new(tuning::Tuning::default()),
            shader_checks: shader_checks(choice)?,
        })))
    }
}

#[cfg(test)]
mod tests {
    /// A lost device (destroyed here; a driver reset after running out of memory reaches heft
    /// the same way) makes the next GPU call fail with what to lower, not panic.
    #[test]
    fn a_lost_device_is_an_error_that_says_what_to_lower() {
        let gpu = super::Gpu::new(&Default::default()).unwrap();
        gpu.0.device.destroy();
        let e = crate::Tensor::zeros(&gpu, &[4]).and_then(|t| t.to_f32()).unwrap_err().to_string();
        assert!(e.contains("device was lost") && e.contains("lower --batch"), "{e}");
    }
}
