//! Prometheus metrics, in a registry of our own so `/metrics` shows exactly what edge-proxy
//! exports.

use std::sync::Arc;

use prometheus::{
    CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::event_metrics::EventMetrics;
use super::function_meters::{Families, FunctionMeters, MetersByFunction};
use crate::cache::MemoryStore;
use crate::hooks::{MemoryBudget, Report};

/// Every metric edge-proxy exports.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by behavior and status.
    pub requests: IntCounterVec,
    /// Time from sending the request to an origin to receiving its response header.
    pub origin_latency: HistogramVec,
    /// Failures talking to an origin, by origin and kind (`connect`, `timeout`, `io`, `no-healthy-server`).
    pub upstream_errors: IntCounterVec,
    /// Failed hook invocations, by function and kind (`throttled`, `timeout`, `cpu-budget`,
    /// `memory-budget`, `trap`, `function-error`, `invalid`).
    pub hook_errors: IntCounterVec,
    /// Invocations of each function as Lambda would bill them (hooks and wasm targets).
    function_requests: IntCounterVec,
    /// Billed duration × memory of each function, GB-seconds.
    function_gb_seconds: CounterVec,
    hook_memory_bytes: IntGauge,
    hook_memory_budget_bytes: IntGauge,
    hook_environments_recycled: IntCounter,
    /// Cacheable requests by behavior and result (`hit`, `miss`, `stale`, `refresh-hit`,
    /// `uncacheable`).
    pub cache_requests: IntCounterVec,
    /// Requests that waited behind another's fetch of the same key (the cache lock).
    pub cache_lock_waits: IntCounter,
    cache_evictions: IntCounter,
    cache_purged: IntCounter,
    cache_bytes: IntGauge,
    cache_objects: IntGauge,
    cache_max_bytes: IntGauge,
    /// Viewer connections open now.
    pub viewer_connections: IntGauge,
    /// Viewer connections closed at accept because `limits.max-connections` were open.
    pub connections_refused: IntCounter,
    /// Requests Pingora refused before the pipeline (an unparseable head: 400; `CONNECT`: 405),
    /// by status: they reach neither the access log nor `edge_requests_total`.
    pub requests_refused: IntCounterVec,
    /// Access-log lines dropped because stdout did not keep up (see `access_log.rs`).
    pub access_log_dropped: IntCounter,
    /// The configuration generation in service (1 at start, one more per reload).
    pub config_generation: IntGauge,
    /// Reloads, by result (`ok`, `error`).
    pub config_reloads: IntCounterVec,
    /// 1, labelled with the SHA-256 of the configuration in service.
    pub config_info: IntGaugeVec,
    /// Event invocations and their queue.
    pub events: EventMetrics,
    /// Each function's hook and billing series (invocations, duration, CPU, slow lane,
    /// billed requests and GB-seconds), resolved once.
    functions: MetersByFunction,
}

impl Metrics {
    /// Registers all metrics in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "edge_requests_total",
                "Requests answered, by behavior and status.",
            ),
            &["behavior", "status"],
        )
        .expect("valid metric");
        let origin_latency = HistogramVec::new(
            HistogramOpts::new(
                "edge_origin_latency_seconds",
                "Time from sending a request to an origin until its response header arrived.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["origin"],
        )
        .expect("valid metric");
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "edge_upstream_errors_total",
                "Failures talking to an origin, by kind.",
            ),
            &["origin", "kind"],
        )
        .expect("valid metric");
        let hook_invocations = IntCounterVec::new(
            Opts::new(
                "edge_hook_invocations_total",
                "Hook invocations, by function and trigger.",
            ),
            &["function", "event_type"],
        )
        .expect("valid metric");
        let hook_errors = IntCounterVec::new(
            Opts::new(
                "edge_hook_errors_total",
                "Failed hook invocations, by function and kind.",
            ),
            &["function", "kind"],
        )
        .expect("valid metric");
        let hook_duration = HistogramVec::new(
            HistogramOpts::new("edge_hook_duration_seconds", "Time in the hook handler.").buckets(
                vec![
                    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025,
                    0.1, 1.0, 5.0,
                ],
            ),
            &["function"],
        )
        .expect("valid metric");
        let hook_cpu_seconds = CounterVec::new(
            Opts::new(
                "edge_hook_cpu_seconds_total",
                "CPU time of hook calls (time in their polls, on any thread), by function.",
            ),
            &["function"],
        )
        .expect("valid metric");
        let hook_slow_lane = IntCounterVec::new(
            Opts::new(
                "edge_hook_slow_lane_total",
                "Hook calls that used more than node.slow-lane-after-ms of CPU and finished on the slow lane, by function.",
            ),
            &["function"],
        )
        .expect("valid metric");
        let function_ran_again = IntCounterVec::new(
            Opts::new(
                "edge_function_ran_again_total",
                "Calls that outgrew the synchronous path (used node.slow-lane-after-ms of CPU, or would wait) and ran again on the asynchronous one, by function; the function stays there.",
            ),
            &["function"],
        )
        .expect("valid metric");
        let function_requests = IntCounterVec::new(
            Opts::new(
                "edge_function_billed_requests_total",
                "Invocations of each function (hooks and wasm target functions), as Lambda bills requests.",
            ),
            &["function"],
        )
        .expect("valid metric");
        let function_gb_seconds = CounterVec::new(
            Opts::new(
                "edge_function_billed_gb_seconds_total",
                "Billed duration (rounded up to 1 ms) times configured memory, in GB-seconds, by function.",
            ),
            &["function"],
        )
        .expect("valid metric");
        let hook_memory_bytes = IntGauge::new(
            "edge_hook_memory_bytes",
            "Linear memory granted to all execution environments.",
        )
        .expect("valid metric");
        let hook_memory_budget_bytes = IntGauge::new(
            "edge_hook_memory_budget_bytes",
            "node.hooks-memory-mb in bytes; 0 when unset.",
        )
        .expect("valid metric");
        let hook_environments_recycled = IntCounter::new(
            "edge_hook_environments_recycled_total",
            "Idle execution environments dropped to make room under node.hooks-memory-mb.",
        )
        .expect("valid metric");
        let cache_requests = IntCounterVec::new(
            Opts::new(
                "edge_cache_requests_total",
                "Cacheable requests, by behavior and result (hit, miss, stale, refresh-hit, uncacheable).",
            ),
            &["behavior", "result"],
        )
        .expect("valid metric");
        let cache_lock_waits = IntCounter::new(
            "edge_cache_lock_waits_total",
            "Requests that waited for another request's fetch of the same object.",
        )
        .expect("valid metric");
        let cache_evictions = IntCounter::new(
            "edge_cache_evictions_total",
            "Objects evicted to keep the store under its byte budget.",
        )
        .expect("valid metric");
        let cache_purged = IntCounter::new(
            "edge_cache_purged_total",
            "Objects removed by the purge API.",
        )
        .expect("valid metric");
        let cache_bytes =
            IntGauge::new("edge_cache_bytes", "Bytes stored in the cache.").expect("valid metric");
        let cache_objects = IntGauge::new("edge_cache_objects", "Objects stored in the cache.")
            .expect("valid metric");
        let cache_max_bytes = IntGauge::new("edge_cache_max_bytes", "The cache's byte budget.")
            .expect("valid metric");
        let viewer_connections =
            IntGauge::new("edge_viewer_connections", "Viewer connections open now.")
                .expect("valid metric");
        let connections_refused = IntCounter::new(
            "edge_viewer_connections_refused_total",
            "Viewer connections closed at accept because limits.max-connections were open.",
        )
        .expect("valid metric");
        let requests_refused = IntCounterVec::new(
            Opts::new(
                "edge_requests_refused_total",
                "Requests refused before routing, by status: a head that is not valid HTTP/1 (400), CONNECT (405).",
            ),
            &["status"],
        )
        .expect("valid metric");
        let access_log_dropped = IntCounter::new(
            "edge_access_log_lines_dropped_total",
            "Access-log lines dropped because stdout did not take them as fast as they came.",
        )
        .expect("valid metric");
        let config_generation = IntGauge::new(
            "edge_config_generation",
            "The configuration generation in service: 1 at start, one more per reload.",
        )
        .expect("valid metric");
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "edge_config_reloads_total",
                "Configuration reloads, by result (ok, error).",
            ),
            &["result"],
        )
        .expect("valid metric");
        let config_info = IntGaugeVec::new(
            Opts::new(
                "edge_config_info",
                "1, labelled with the SHA-256 of the configuration file and modules in service.",
            ),
            &["hash"],
        )
        .expect("valid metric");
        for m in [
            Box::new(config_generation.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(config_reloads.clone()),
            Box::new(config_info.clone()),
            Box::new(viewer_connections.clone()),
            Box::new(connections_refused.clone()),
            Box::new(requests_refused.clone()),
            Box::new(access_log_dropped.clone()),
            Box::new(cache_requests.clone()),
            Box::new(cache_lock_waits.clone()),
            Box::new(cache_evictions.clone()),
            Box::new(cache_purged.clone()),
            Box::new(cache_bytes.clone()),
            Box::new(cache_objects.clone()),
            Box::new(cache_max_bytes.clone()),
            Box::new(hook_cpu_seconds.clone()),
            Box::new(hook_slow_lane.clone()),
            Box::new(function_ran_again.clone()),
            Box::new(function_requests.clone()),
            Box::new(function_gb_seconds.clone()),
            Box::new(hook_memory_bytes.clone()),
            Box::new(hook_memory_budget_bytes.clone()),
            Box::new(hook_environments_recycled.clone()),
        ] {
            registry.register(m).expect("unique metric");
        }
        registry
            .register(Box::new(hook_invocations.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(hook_errors.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(hook_duration.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(origin_latency.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(upstream_errors.clone()))
            .expect("unique metric");
        let events = EventMetrics::register(&registry);
        let functions = MetersByFunction::new(Families {
            invocations: hook_invocations.clone(),
            duration: hook_duration.clone(),
            cpu_seconds: hook_cpu_seconds.clone(),
            slow_lane: hook_slow_lane.clone(),
            billed_requests: function_requests.clone(),
            gb_seconds: function_gb_seconds.clone(),
            ran_again: function_ran_again.clone(),
        });
        Metrics {
            functions,
            events,
            registry,
            requests,
            origin_latency,
            upstream_errors,
            hook_errors,
            function_requests,
            function_gb_seconds,
            hook_memory_bytes,
            hook_memory_budget_bytes,
            hook_environments_recycled,
            cache_requests,
            cache_lock_waits,
            cache_evictions,
            cache_purged,
            cache_bytes,
            cache_objects,
            cache_max_bytes,
            viewer_connections,
            connections_refused,
            requests_refused,
            access_log_dropped,
            config_generation,
            config_reloads,
            config_info,
        }
    }

    /// Records that generation `number`, whose hash is `hash`, is in service.
    pub fn observe_generation(&self, number: u64, hash: &str) {
        self.config_generation.set(number as i64);
        self.config_info.reset();
        self.config_info.with_label_values(&[hash]).set(1);
    }

    /// Copies the store's own counters into the registry (they live in the store so that
    /// eviction, under the store's lock, does not also touch the registry).
    pub fn observe_store(&self, store: &MemoryStore) {
        use std::sync::atomic::Ordering::Relaxed;
        let evictions = store.stats.evictions.load(Relaxed);
        self.cache_evictions
            .inc_by(evictions.saturating_sub(self.cache_evictions.get()));
        let purged = store.stats.purged.load(Relaxed);
        self.cache_purged
            .inc_by(purged.saturating_sub(self.cache_purged.get()));
        self.cache_bytes.set(store.bytes() as i64);
        self.cache_objects.set(store.objects() as i64);
        self.cache_max_bytes.set(store.max_bytes() as i64);
    }

    /// Meters one invocation of `function` as Lambda bills it.
    pub fn observe_billing(&self, function: &str, report: &Report) {
        self.function(function).observe_billing(report);
    }

    /// `function`'s series (invocations, duration, CPU, slow lane, billing), resolved once.
    pub fn function(&self, function: &str) -> Arc<FunctionMeters> {
        self.functions.get(function)
    }

    /// Each metered function's billed requests and GB-seconds since start, by name.
    pub fn billing(&self) -> Vec<(String, u64, f64)> {
        use prometheus::core::Collector;
        let mut gb_seconds = std::collections::HashMap::new();
        for m in self
            .function_gb_seconds
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
        {
            if let Some(l) = m.get_label().first() {
                gb_seconds.insert(l.value().to_string(), m.get_counter().get_value());
            }
        }
        let mut rows: Vec<_> = self
            .function_requests
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
            .filter_map(|m| {
                let name = m.get_label().first()?.value().to_string();
                let gb_s = gb_seconds.get(&name).copied().unwrap_or(0.0);
                Some((name, m.get_counter().get_value() as u64, gb_s))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// Copies the hooks' node-wide memory budget into the registry.
    pub fn observe_hook_memory(&self, budget: &MemoryBudget) {
        self.hook_memory_bytes.set(budget.used() as i64);
        self.hook_memory_budget_bytes
            .set(budget.limit().unwrap_or(0) as i64);
        let recycled = budget.recycled();
        self.hook_environments_recycled
            .inc_by(recycled.saturating_sub(self.hook_environments_recycled.get()));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
