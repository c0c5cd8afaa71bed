//! Pipelines and dispatch recording: each (shader, entry point, specialisation) is compiled once
//! with naga's reflection of the bindings it uses and of its parameter block's size; a dispatch
//! checks its typed `Params` against that size and is recorded into the shared encoder.

use super::{shaders, Binding, Gpu, Recorder, Spec, PARAM_SLOT, PARAM_SLOTS};
use crate::error::{Error, Result};
use std::sync::Arc;

/// (shader, entry point, specialisation) of a pipeline.
pub(super) type KernelKey = (&'static str, &'static str, Spec);

pub(super) struct Kernel {
    pipeline: wgpu::ComputePipeline,
    /// Bindings the entry point uses (binding 0 is the uniform parameter block).
    bindings: Vec<u32>,
    /// Byte size of the shader's `Params` as naga reflects it.
    params: usize,
}

impl Gpu {
    fn kernel(&self, shader: &'static str, entry: &'static str, spec: Spec) -> Result<Arc<Kernel>> {
        if let Some(k) = self.0.kernels.lock().unwrap().get(&(shader, entry, spec)) {
            return Ok(k.clone());
        }
        let mut modules = self.0.modules.lock().unwrap();
        if let std::collections::hash_map::Entry::Vacant(slot) = modules.entry((shader, spec)) {
            let src = shaders::source(shader, spec)?;
            let (module, info) = shaders::parse(shader, &src)?;
            let sm = self.0.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(shader),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
            slot.insert((sm, module, info));
        }
        let (sm, module, info) = &modules[&(shader, spec)];
        let bindings = shaders::used_bindings(module, info, entry)
            .ok_or_else(|| Error::Invalid(format!("shader {shader} has no entry point {entry}")))?;
        let params = shaders::params_size(module) as usize;
        if params as u64 > PARAM_SLOT {
            return Err(Error::Invalid(format!("{shader}: its Params of {params} bytes exceed the {PARAM_SLOT}-byte parameter slot")));
        }
        let pipeline = self.0.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: sm,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        drop(modules);
        self.check_error()?;
        let k = Arc::new(Kernel { pipeline, bindings, params });
        self.0.kernels.lock().unwrap().insert((shader, entry, spec), k.clone());
        Ok(k)
    }

    pub(super) fn encoder<'a>(&self, rec: &'a mut Recorder) -> &'a mut wgpu::CommandEncoder {
        rec.encoder.get_or_insert_with(|| {
            self.0.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        })
    }

    /// Record one dispatch of `shader::entry` with the parameter block `params` (the Rust twin
    /// of the shader's `struct Params`, bound at binding 0) and the storage buffers `bufs`.
    /// Buffers the entry point does not use are ignored; a used binding that is missing, or a
    /// `params` whose size differs from the shader's `Params`, is an error.
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
        let layout = k.pipeline.get_bind_group_layout(0);
        let mut rec = self.0.rec.lock().unwrap();
        let timed_full = self.0.profiler.as_ref().is_some_and(|p| p.full());
        if rec.params.len() as u64 >= PARAM_SLOT * PARAM_SLOTS || timed_full {
            self.submit(&mut rec)?;
        }
        let offset = rec.params.len() as u64;
        let mut block = vec![0u8; PARAM_SLOT as usize];
        block[..params.len()].copy_from_slice(params);
        rec.params.extend_from_slice(&block);
        let mut entries = Vec::new();
        for &b in &k.bindings {
            if b == 0 {
                entries.push(wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &self.0.params,
                        offset,
                        size: wgpu::BufferSize::new(PARAM_SLOT),
                    }),
                });
                continue;
            }
            let buf = bufs.iter().find(|(i, _)| *i == b).map(|(_, bind)| *bind).ok_or_else(|| {
                Error::Invalid(format!("{shader}::{entry}: binding {b} was not provided"))
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
                binding: b,
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
        let timestamp_writes = self.0.profiler.as_ref().map(|p| p.pass((shader, entry), groups));
        let enc = self.encoder(&mut rec);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(entry), timestamp_writes });
        pass.set_pipeline(&k.pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        Ok(())
    }
}
