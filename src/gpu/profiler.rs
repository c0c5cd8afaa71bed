//! Per-kernel GPU time from timestamp queries (`heft profile`): each dispatch's compute pass
//! writes a timestamp at its start and end; each submit resolves them, waits, adds the
//! durations up per (shader, entry point), and keeps every pass as a trace event for
//! `heft profile --trace` (Chrome/Perfetto trace format).

use std::collections::HashMap;
use std::sync::Mutex;

/// Compute passes timed per submit (two timestamps each; a query set holds at most 4096).
pub(super) const PROFILE_PASSES: u32 = 2048;

/// (shader, entry point).
pub(super) type KernelId = (&'static str, &'static str);

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
            totals: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// No more passes can be timed before the next submit.
    pub(super) fn full(&self) -> bool {
        self.pending.lock().unwrap().len() as u32 >= PROFILE_PASSES
    }

    /// The timestamp writes of the next pass, which dispatches `kernel` over `groups`.
    pub(super) fn pass(&self, kernel: KernelId, groups: [u32; 3]) -> wgpu::ComputePassTimestampWrites<'_> {
        let mut pending = self.pending.lock().unwrap();
        let i = pending.len() as u32;
        pending.push((kernel, groups));
        wgpu::ComputePassTimestampWrites { query_set: &self.set, beginning_of_pass_write_index: Some(2 * i), end_of_pass_write_index: Some(2 * i + 1) }
    }

    /// Record the resolve of this submit's timestamps into the readback buffer; returns the
    /// passes they belong to (empty: nothing was timed).
    pub(super) fn resolve(&self, enc: &mut wgpu::CommandEncoder) -> Vec<(KernelId, [u32; 3])> {
        let timed = std::mem::take(&mut *self.pending.lock().unwrap());
        if !timed.is_empty() {
            let n = 2 * timed.len() as u32;
            enc.resolve_query_set(&self.set, 0..n, &self.resolve, 0);
            enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, Some(n as u64 * 8));
        }
        timed
    }

    /// The buffer `resolve` wrote to, to be read back after the submit.
    pub(super) fn readback(&self) -> &wgpu::Buffer {
        &self.readback
    }

    /// Add the read-back timestamps `ticks` of the passes `timed`.
    pub(super) fn account(&self, timed: Vec<(KernelId, [u32; 3])>, ticks: &[u64]) {
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
    pub(super) fn kernel_times(&self) -> Vec<KernelTime> {
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
    pub(super) fn events(&self) -> Vec<TraceEvent> {
        self.events.lock().unwrap().clone()
    }

    pub(super) fn reset(&self) {
        self.totals.lock().unwrap().clear();
        self.events.lock().unwrap().clear();
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
