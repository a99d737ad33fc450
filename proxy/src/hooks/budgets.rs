//! What every function on the node shares so one function cannot starve the rest: the slow lane
//! for invocations that use more CPU than a fast hook, and the memory budget of all environments
//! together. Built once when the process starts and kept across reloads (its settings are
//! restart-only).

use std::sync::Arc;

use super::lane::SlowLane;
use super::memory_budget::MemoryBudget;
use crate::config::HookNodeSettings;

/// The slow lane and the node-wide memory budget.
pub struct NodeBudgets {
    pub(crate) lane: SlowLane,
    pub(crate) memory: Arc<MemoryBudget>,
}

impl NodeBudgets {
    /// Starts the lane's threads and sets the memory budget.
    pub fn new(settings: &HookNodeSettings) -> std::io::Result<Self> {
        Ok(NodeBudgets {
            lane: SlowLane::new(settings.slow_lane_threads, settings.slow_lane_after)?,
            memory: Arc::new(MemoryBudget::new(
                settings.memory_mb.map(|mb| (mb as usize) << 20),
            )),
        })
    }

    /// The node-wide memory budget, for metrics.
    pub fn memory(&self) -> &MemoryBudget {
        &self.memory
    }
}
