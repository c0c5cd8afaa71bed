//! Adapter and device choice: list the adapters wgpu sees, pick one by name (or the
//! high-performance default), and open its device with everything it offers (full limits,
//! subgroups when present, timestamp queries when profiling).

use super::profiler::Profiler;
use super::recorder::Recorder;
use super::{tuning, Gpu, GpuInner};
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
        let adapter = pick(choice)?;
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
            pool: Default::default(),
            rec,
            dummy,
            error,
            profiler,
            tuning: Mutex::new(tuning::Tuning::default()),
        })))
    }
}
