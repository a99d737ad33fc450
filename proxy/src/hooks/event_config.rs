//! `Records[0].cf.config` of the running invocation: the contract's `distribution-domain-name`,
//! `distribution-id` and `request-id` functions.

use super::bindings::edge::hooks::types::Host;
use super::state::HookState;

impl Host for HookState {
    fn distribution_domain_name(&mut self) -> wasmtime::Result<String> {
        Ok(self
            .invocation()?
            .config
            .distribution_domain_name
            .to_string())
    }

    fn distribution_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.invocation()?.config.distribution_id.to_string())
    }

    fn request_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.invocation()?.config.request_id.to_string())
    }
}
