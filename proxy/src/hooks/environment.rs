//! An execution environment: what one warm (or fresh) instance of a function is.

use std::time::Instant;

use wasmtime::Store;

use super::bindings::lambda_world::Lambda;
use super::bindings::Hook;
use super::state::HookState;

/// An execution environment: a store with an instance of the function.
pub(super) struct Environment {
    pub(super) store: Store<HookState>,
    pub(super) exports: Exports,
    /// Calls it has finished.
    pub(super) invocations: u64,
    /// When its last call ended (or it was made).
    pub(super) last_used: Instant,
}

/// The instance's exports, by the contract it implements.
pub(super) enum Exports {
    Hook(Hook),
    Lambda(Lambda),
}
