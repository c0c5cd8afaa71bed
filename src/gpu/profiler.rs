//! Per-kernel GPU time from timestamp queries (`heft profile`): each dispatch's compute pass
//! writes a timestamp at its start and end; each submit resolves them, waits, adds the
//! durations up per (shader, entry point), and keeps every pass as a trace event for
//! `heft profile --trace` (Chrome/Perfetto trace format). It watches the recorder through its
//! `SubmitHook`.

use super::pipelines::KernelId;
use super::recorder::{map_read, SubmitHook};
use super::Gpu;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// Compute passes timed per submit (two timestamps each; a query set holds at most 4096).
const PROFILE_PASSES: u32 = 2048;

/// GPU time of one kernel (shader::entry) summed over its dispatches.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelTime {
    pub kernel: String,
    pub calls: u64,
    pub ms: f64,
}

/// One timed dispatch: its kernel, workgroup grid and GPU start/end (nanoseconds on the GPU's
/// timestamp clock).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceEvent {
    pub kernel: String,
    pub workgroups: [u32; 3],
    pub start_ns: f64,
    pub end_ns: f64,
}

pub(super) struct Profiler {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period: f64,
    /// Kernels (and grids) of the passes recorded since the last submit, in order.
    pending: Mutex<Vec<(KernelId, [u32; 3])>>,
    /// The passes whose timestamps the current submit resolves into `readback`.
    resolved: Mutex<Vec<(KernelId, [u32; 3])>>,
    /// Calls and nanoseconds per kernel.
    totals: Mutex<HashMap<KernelId, (u64, f64)>>,
    events: Mutex<Vec<TraceEvent>>,
}

impl Profiler {
    pub(super) fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Profiler {
        let bytes = 2 * PROFILE_PASSES as u64 * 8;
        let buffer = |usage| device.create_buffer(&wgpu::BufferDescriptor { label: Some("timestamps"), size: bytes, usage, mapped_at_creation: false });
        Profiler {
            set: device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("timestamps"), ty: wgpu::QueryType::Timestamp, count: 2 * PROFILE_PASSES }),
            resolve: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
            readback: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
            period: queue.get_timestamp_period() as f64,
            pending: Mutex::new(Vec::new()),
            resolved: Mutex::new(Vec::new()),
            totals: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Add the read-back timestamps `ticks` of the passes `timed`.
    fn account(&self, timed: Vec<(KernelId, [u32; 3])>, ticks: &[u64]) {
        let mut totals = self.totals.lock().unwrap();
        let mut events = self.events.lock().unwrap();
        for (i, (kernel, workgroups)) in timed.into_iter().enumerate() {
            let (start, end) = (ticks[2 * i] as f64 * self.period, ticks[2 * i + 1].max(ticks[2 * i]) as f64 * self.period);
            let t = totals.entry(kernel).or_insert((0, 0.0));
            *t = (t.0 + 1, t.1 + end - start);
            events.push(TraceEvent { kernel: format!("{}::{}", kernel.0, kernel.1), workgroups, start_ns: start, end_ns: end });
        }
    }

    /// Time per kernel, longest first.
    fn kernel_times(&self) -> Vec<KernelTime> {
        let mut rows: Vec<KernelTime> = self
            .totals
            .lock()
            .unwrap()
            .iter()
            .map(|(&(s, e), &(calls, ns))| KernelTime { kernel: format!("{s}::{e}"), calls, ms: ns / 1e6 })
            .collect();
        rows.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.kernel.cmp(&b.kernel)));
        rows
    }

    /// Every timed dispatch since the last reset, in submission order.
    fn events(&self) -> Vec<TraceEvent> {
        self.events.lock().unwrap().clone()
    }

    fn reset(&self) {
        self.totals.lock().unwrap().clear();
        self.events.lock().unwrap().clear();
    }
}

impl SubmitHook for Profiler {
    /// No more passes can be timed before the next submit.
    fn full(&self) -> bool {
        self.pending.lock().unwrap().len() as u32 >= PROFILE_PASSES
    }

    fn pass(&self, kernel: KernelId, groups: [u32; 3]) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let mut pending = self.pending.lock().unwrap();
        let i = pending.len() as u32;
        pending.push((kernel, groups));
        Some(wgpu::ComputePassTimestampWrites { query_set: &self.set, beginning_of_pass_write_index: Some(2 * i), end_of_pass_write_index: Some(2 * i + 1) })
    }

    /// Resolve the timestamps of the passes timed since the last submit into `readback`.
    fn before_submit(&self, enc: &mut wgpu::CommandEncoder) {
        let timed = std::mem::take(&mut *self.pending.lock().unwrap());
        if !timed.is_empty() {
            let n = 2 * timed.len() as u32;
            enc.resolve_query_set(&self.set, 0..n, &self.resolve, 0);
            enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, Some(n as u64 * 8));
        }
        *self.resolved.lock().unwrap() = timed;
    }

    /// Wait for the submit, read its timestamps back and add them up.
    fn after_submit(&self, device: &wgpu::Device) -> Result<()> {
        let timed = std::mem::take(&mut *self.resolved.lock().unwrap());
        if !timed.is_empty() {
            let ticks: Vec<u64> = bytemuck::cast_slice(&map_read(device, &self.readback, 2 * timed.len() as u64 * 8)?).to_vec();
            self.account(timed, &ticks);
        }
        Ok(())
    }
}

impl Gpu {
    fn profiler(&self, what: &str) -> Result<&Profiler> {
        self.0.profiler.as_ref().ok_or_else(|| Error::Invalid(format!("{what} need a GPU opened for profiling")))
    }

    /// GPU time per kernel since the last `reset_kernel_times`, longest first (waits for the
    /// GPU). Fails unless the adapter was opened with `AdapterChoice::profile`.
    pub fn kernel_times(&self) -> Result<Vec<KernelTime>> {
        let p = self.profiler("kernel times")?;
        self.sync()?;
        Ok(p.kernel_times())
    }

    /// Every timed dispatch since the last `reset_kernel_times`, in order (waits for the GPU).
    pub fn trace_events(&self) -> Result<Vec<TraceEvent>> {
        let p = self.profiler("trace events")?;
        self.sync()?;
        Ok(p.events())
    }

    /// Forget the kernel times gathered so far (after a warm-up, say); waits for the GPU.
    pub fn reset_kernel_times(&self) -> Result<()> {
        self.sync()?;
        if let Some(p) = &self.0.profiler {
            p.reset();
        }
        Ok(())
    }
}

/// `events` as a Chrome trace (the JSON object format; opens in ui.perfetto.dev and
/// chrome://tracing): one complete event ("X") per dispatch on one GPU track, times in
/// microseconds from the first dispatch, with the workgroup grid as an argument.
pub fn chrome_trace(events: &[TraceEvent], adapter: &str) -> serde_json::Value {
    let t0 = events.iter().map(|e| e.start_ns).fold(f64::INFINITY, f64::min);
    let list: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.kernel, "cat": "gpu", "ph": "X", "pid": 1, "tid": 1,
                "ts": (e.start_ns - t0) / 1e3, "dur": (e.end_ns - e.start_ns) / 1e3,
                "args": { "workgroups": e.workgroups },
            })
        })
        .collect();
    let meta = serde_json::json!({ "name": "process_name", "ph": "M", "pid": 1, "tid": 1, "args": { "name": adapter } });
    serde_json::json!({ "traceEvents": std::iter::once(meta).chain(list).collect::<Vec<_>>(), "displayTimeUnit": "ms" })
}
