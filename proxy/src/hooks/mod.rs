//! WebAssembly hooks at CloudFront's four trigger points, with Lambda@Edge semantics.
//!
//! A function is a component implementing the `edge:hooks` contract (`hooks-sdk/wit/`). The
//! [`HookRegistry`] compiles every configured function (once per module and settings: a reload
//! carries unchanged ones over, and compiled components are cached on disk); each
//! [`HookFunction`] keeps warm execution environments and runs invocations with memory and time
//! limits; results are validated as CloudFront validates them, and failures map to 502 (invalid
//! result) or 503 (execution error, timeout, throttle, CPU or memory budget) in
//! [`HookError::status`]. [`NodeBudgets`] keeps one function from starving the others: calls past
//! a fast hook's CPU finish on a low-priority slow lane, and all environments share one memory
//! budget.

mod bindings;
mod bounded_lists;
mod budgets;
mod call;
mod compiled;
mod convert;
mod engine;
mod environment;
mod epoch;
mod error;
mod event_config;
mod function;
mod headers;
mod in_flight;
mod invocation;
mod lane;
mod lent;
mod memory_budget;
mod meters;
mod prepared;
mod registry;
mod request;
mod response;
mod slots;
mod state;
mod sync_wasi;
mod validated;

pub use budgets::NodeBudgets;
pub use call::Report;
pub use compiled::{hex, CompiledCache};
pub use error::{HookError, Trigger};
pub use function::HookFunction;
pub use lent::{Lent, LentHeaders, RequestField};
pub use memory_budget::MemoryBudget;
pub use meters::CallMeters;
pub use registry::{compiled_cache, HookRegistry, RegistryChanges};
pub use validated::{Decision, Validated};
