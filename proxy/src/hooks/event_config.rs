//! The `config` host resource: `Records[0].cf.config`, read on demand.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types::HostConfig;
use super::state::HookState;
use edge_event::CfConfig;

/// The host side of a `config` handle: the config of invocation `generation`.
#[derive(Debug, Clone, Copy)]
pub struct ConfigSlot {
    pub(crate) generation: u64,
}

impl HookState {
    fn config(&self, handle: &Resource<ConfigSlot>) -> wasmtime::Result<&CfConfig> {
        let slot = *self.table.get(handle)?;
        self.check_generation(slot.generation, "config")?;
        Ok(&self.invocation()?.config)
    }
}

impl HostConfig for HookState {
    fn distribution_domain_name(&mut self, this: Resource<ConfigSlot>) -> wasmtime::Result<String> {
        Ok(self.config(&this)?.distribution_domain_name.clone())
    }

    fn distribution_id(&mut self, this: Resource<ConfigSlot>) -> wasmtime::Result<String> {
        Ok(self.config(&this)?.distribution_id.clone())
    }

    fn request_id(&mut self, this: Resource<ConfigSlot>) -> wasmtime::Result<String> {
        Ok(self.config(&this)?.request_id.clone())
    }

    fn drop(&mut self, rep: Resource<ConfigSlot>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
