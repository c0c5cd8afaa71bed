//! The pipeline cache: each (shader, specialisation) is compiled once, and each (shader, entry
//! point, specialisation) becomes one compute pipeline, kept with naga's reflection of the
//! globals it binds and of its parameter block's size.

use super::recorder::PARAM_SLOT;
use super::{shaders, Gpu, Spec};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// (shader, entry point) of a kernel.
pub(super) type KernelId = (&'static str, &'static str);

/// (shader, entry point, specialisation) of a pipeline.
type KernelKey = (&'static str, &'static str, Spec);

/// A compiled (and specialised) shader with naga's reflection of it.
type Module = (wgpu::ShaderModule, naga::Module, naga::valid::ModuleInfo);

pub(super) struct Kernel {
    pub(super) pipeline: wgpu::ComputePipeline,
    /// The shader's bound globals, by name, and which the entry point uses.
    pub(super) globals: Vec<shaders::Global>,
    /// Byte size of the shader's `Params` as naga reflects it.
    pub(super) params: usize,
}

#[derive(Default)]
pub(super) struct Pipelines {
    modules: Mutex<HashMap<(&'static str, Spec), Module>>,
    kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
}

impl Gpu {
    /// The pipeline of `shader::entry` specialised with `spec`, compiled on first use.
    pub(super) fn kernel(&self, shader: &'static str, entry: &'static str, spec: Spec) -> Result<Arc<Kernel>> {
        let cache = &self.0.pipelines;
        if let Some(k) = cache.kernels.lock().unwrap().get(&(shader, entry, spec)) {
            return Ok(k.clone());
        }
        let mut modules = cache.modules.lock().unwrap();
        if let std::collections::hash_map::Entry::Vacant(slot) = modules.entry((shader, spec)) {
            let src = shaders::source(shader, spec)?;
            let (module, info) = shaders::parse(shader, &src)?;
            let desc = wgpu::ShaderModuleDescriptor { label: Some(shader), source: wgpu::ShaderSource::Wgsl(src.into()) };
            let sm = if !self.0.shader_checks && shaders::TRUSTED.contains(&shader) {
                // SAFETY: TRUSTED lists kernels whose every index is bounded by its wrapper's
                // checks before dispatch (tests/kernels refuse out-of-range operands), whose
                // divisors are non-zero and whose loops are counted.
                unsafe { self.0.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
            } else {
                self.0.device.create_shader_module(desc)
            };
            slot.insert((sm, module, info));
        }
        let (sm, module, info) = &modules[&(shader, spec)];
        let globals = shaders::globals(module, info, entry)
            .ok_or_else(|| Error::Invalid(format!("shader {shader} has no entry point {entry}")))?;
        let params = shaders::params_layout(module).map_or(0, |l| l.size);
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
        let k = Arc::new(Kernel { pipeline, globals, params });
        cache.kernels.lock().unwrap().insert((shader, entry, spec), k.clone());
        Ok(k)
    }
}
