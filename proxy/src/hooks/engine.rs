//! The one wasmtime engine every hook runs on, tuned for many short invocations.

use std::sync::Arc;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ProfilingStrategy,
};

use super::epoch::EpochTicker;

/// Sizes for the engine's instance pool.
#[derive(Debug, Clone, Copy)]
pub struct EngineSizing {
    /// Instances that may be alive at once across all functions.
    pub instances: u32,
    /// The largest `memory-mb` of any function, in bytes.
    pub max_memory_bytes: usize,
}

impl EngineSizing {
    /// Whether an engine sized `self` can run functions that need `other`.
    pub fn fits(&self, other: &EngineSizing) -> bool {
        other.instances <= self.instances && other.max_memory_bytes <= self.max_memory_bytes
    }
}

/// Set (to anything but empty), the engine writes `/tmp/perf-<pid>.map` naming the code it
/// compiles, so `perf report` shows a hook's own functions where it would show bare addresses.
pub const PERFMAP_VAR: &str = "EDGE_PROXY_PERFMAP";

/// Builds the engine: pooling allocator (instances come from pre-reserved slots, and memory pages
/// a slot used are kept resident and reset with copy-on-write instead of being unmapped — the
/// settings measured to halve per-request instantiation cost), epoch interruption for timeouts
/// and yields, and the component model. Its [`EpochTicker`] advances the epoch while wasm runs.
pub fn build(sizing: &EngineSizing) -> wasmtime::Result<(Engine, Arc<EpochTicker>)> {
    let mut pool = PoolingAllocationConfig::new();
    let slots = sizing.instances.max(4);
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(sizing.max_memory_bytes)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        // A trap is reported by its code; capturing guest backtraces costs time on every trap.
        .wasm_backtrace_max_frames(None)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if std::env::var_os(PERFMAP_VAR).is_some_and(|v| !v.is_empty()) {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config)?;
    let ticker = EpochTicker::start(&engine)?;
    Ok((engine, ticker))
}
