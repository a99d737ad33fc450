//! What observes a function's calls (its metric series), kept in the function: a call finds its
//! meters there instead of looking them up by the function's name (a lock, a hash of the name
//! and a reference count on every call).

use std::sync::Arc;

use super::Report;
use edge_event::EventType;

/// A function's meters, as the pipeline records its hook calls.
pub trait CallMeters: Send + Sync {
    /// Counts one invocation at `et`.
    fn invoked(&self, et: EventType);
    /// Records what a call cost: its duration, CPU, slow-lane move and billing.
    fn observe_hook(&self, report: &Report);
}

/// A function's meters, resolved by the first call that needs them.
pub(super) type MetersSlot = std::sync::OnceLock<Arc<dyn CallMeters>>;
