//! Dispatch recording: a dispatch checks its typed `Params` against the size the pipeline
//! cache reflected, binds its buffers to the globals of the same name that the entry point
//! uses, and is recorded as one compute pass into the shared encoder, its parameter block into
//! the uniform arena.

use super::recorder::{PARAM_SLOT, PARAM_SLOTS};
use super::{Binding, Gpu, Spec};
use crate::error::{Error, Result};

impl Gpu {
    /// Record one dispatch of `shader::entry` with the parameter block `params` (the Rust twin
    /// of the shader's `struct Params`, bound to its uniform) and the storage buffers `bufs`,
    /// named as the shader's globals. Buffers the entry point does not use are ignored; a name
    /// the shader lacks, a used global that is missing, or a `params` whose size differs from
    /// the shader's `Params`, is an error.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        shader: &'static str,
        entry: &'static str,
        params: &P,
        bufs: &[Binding<'_>],
        groups: [u32; 3],
    ) -> Result<()> {
        self.record(shader, entry, &[], bytemuck::bytes_of(params), bufs, groups)
    }

    /// `dispatch` of a specialised shader: `spec` sets its tunable constants (tile sizes).
    pub fn dispatch_spec<P: bytemuck::Pod>(
        &self,
        shader: &'static str,
        entry: &'static str,
        spec: Spec,
        params: &P,
        bufs: &[Binding<'_>],
        groups: [u32; 3],
    ) -> Result<()> {
        self.record(shader, entry, spec, bytemuck::bytes_of(params), bufs, groups)
    }

    fn record(
        &self,
        shader: &'static str,
        entry: &'static str,
        spec: Spec,
        params: &[u8],
        bufs: &[Binding<'_>],
        groups: [u32; 3],
    ) -> Result<()> {
        let k = self.kernel(shader, entry, spec)?;
        if params.len() != k.params {
            return Err(Error::Invalid(format!(
                "{shader}::{entry}: parameter block of {} bytes given, the shader's Params is {} bytes",
                params.len(),
                k.params
            )));
        }
        if let Some((name, _)) = bufs.iter().find(|(n, _)| !k.globals.iter().any(|g| !g.uniform && g.name == *n)) {
            let names: Vec<&str> = k.globals.iter().filter(|g| !g.uniform).map(|g| g.name.as_str()).collect();
            return Err(Error::Invalid(format!("{shader}::{entry}: the shader has no buffer `{name}` (it has {})", names.join(", "))));
        }
        let layout = k.pipeline.get_bind_group_layout(0);
        let mut open = self.0.rec.open.lock().unwrap();
        let hook = self.hook();
        if open.params.len() as u64 >= PARAM_SLOT * PARAM_SLOTS || hook.is_some_and(|h| h.full()) {
            self.submit(&mut open)?;
        }
        let offset = open.params.len() as u64;
        let mut block = vec![0u8; PARAM_SLOT as usize];
        block[..params.len()].copy_from_slice(params);
        open.params.extend_from_slice(&block);
        let mut entries = Vec::new();
        for g in k.globals.iter().filter(|g| g.used) {
            if g.uniform {
                entries.push(wgpu::BindGroupEntry {
                    binding: g.binding,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &self.0.rec.arena,
                        offset,
                        size: wgpu::BufferSize::new(PARAM_SLOT),
                    }),
                });
                continue;
            }
            let buf = bufs.iter().find(|(n, _)| *n == g.name).map(|(_, bind)| *bind).ok_or_else(|| {
                Error::Invalid(format!("{shader}::{entry}: buffer `{}` (@binding({})) was not provided", g.name, g.binding))
            })?;
            if buf.size > self.max_binding() {
                return Err(Error::TooLarge {
                    op: shader,
                    what: format!("a tensor bound to {shader}::{entry}"),
                    size: buf.size,
                    limit: self.max_binding(),
                    unit: "bytes",
                });
            }
            entries.push(wgpu::BindGroupEntry {
                binding: g.binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: buf.buf,
                    offset: buf.offset,
                    size: wgpu::BufferSize::new(buf.size.div_ceil(4) * 4),
                }),
            });
        }
        let bg = self.0.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        });
        let timestamp_writes = hook.and_then(|h| h.pass((shader, entry), groups));
        let enc = self.encoder(&mut open);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(entry), timestamp_writes });
        pass.set_pipeline(&k.pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        self.0.rec.dispatches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
