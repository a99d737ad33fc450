//! Settings a running process cannot take by reload: what it bound, sized or scheduled at start.

use super::Config;

/// The keys whose value differs between `old` and `new` and that only a restart (or a binary
/// upgrade) applies, each with why. Empty when `new` can be swapped in.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    const BOUND: &str = "the listening sockets are bound at start";
    const STARTED: &str = "the worker threads are started at start";
    const PROCESS: &str = "read when the process starts";
    const STORE: &str = "the cache store is sized at start and survives reloads";
    const CONNECTION: &str = "connection limits are set on the listeners at start";
    const SHARED: &str = "the hooks' slow lane and memory budget are set up at start";
    const QUEUE: &str = "the event queue is opened at start";
    let (a, b) = (&old.limits, &new.limits);
    [
        (old.listeners != new.listeners, "listeners", BOUND),
        (
            old.admin.address != new.admin.address,
            "admin.address",
            BOUND,
        ),
        (
            old.node.worker_threads != new.node.worker_threads,
            "node.worker-threads",
            STARTED,
        ),
        (
            old.node.shutdown_grace != new.node.shutdown_grace,
            "node.shutdown-grace-ms",
            PROCESS,
        ),
        (
            old.node.upgrade_socket != new.node.upgrade_socket,
            "node.upgrade-socket",
            PROCESS,
        ),
        (
            old.node.module_cache != new.node.module_cache,
            "node.module-cache",
            PROCESS,
        ),
        (
            old.node.hooks.slow_lane_threads != new.node.hooks.slow_lane_threads,
            "node.slow-lane-threads",
            SHARED,
        ),
        (
            old.node.hooks.slow_lane_after != new.node.hooks.slow_lane_after,
            "node.slow-lane-after-ms",
            SHARED,
        ),
        (
            old.node.hooks.memory_mb != new.node.hooks.memory_mb,
            "node.hooks-memory-mb",
            SHARED,
        ),
        (
            old.cache.max_bytes != new.cache.max_bytes,
            "cache.max-bytes",
            STORE,
        ),
        (
            old.cache.max_object_bytes != new.cache.max_object_bytes,
            "cache.max-object-bytes",
            STORE,
        ),
        (
            old.cache.lock_timeout != new.cache.lock_timeout,
            "cache.lock-timeout-ms",
            STORE,
        ),
        (
            a.max_request_header_bytes != b.max_request_header_bytes,
            "limits.max-request-header-bytes",
            CONNECTION,
        ),
        (
            a.request_header_timeout != b.request_header_timeout,
            "limits.request-header-timeout-ms",
            CONNECTION,
        ),
        (
            a.idle_timeout != b.idle_timeout,
            "limits.idle-timeout-ms",
            CONNECTION,
        ),
        (
            a.max_connections != b.max_connections,
            "limits.max-connections",
            CONNECTION,
        ),
        (
            a.h2_max_concurrent_streams != b.h2_max_concurrent_streams,
            "limits.h2-max-concurrent-streams",
            CONNECTION,
        ),
        (
            old.queue != new.queue && (old.uses_queue() || new.uses_queue()),
            "queue",
            QUEUE,
        ),
        (
            !old.uses_queue() && new.uses_queue(),
            "origins with invocation = \"event\", or [realtime-logs]",
            QUEUE,
        ),
    ]
    .into_iter()
    .filter(|(changed, _, _)| *changed)
    .map(|(_, key, why)| format!("{key}: changed, {why}"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::restart_only_changes;
    use crate::config::Config;

    fn config(extra: &str) -> Config {
        let dir = std::env::temp_dir();
        Config::parse(
            &dir.join("edge.toml"),
            &format!(
                "version = 1\n[[listeners]]\naddress = \"127.0.0.1:8080\"\n{extra}\n[origins.o]\ntype = \"http\"\nservers = [\"127.0.0.1:9\"]\n[default-behavior]\norigin = \"o\"\n"
            ),
        )
        .unwrap()
    }

    #[test]
    fn reloadable_changes_pass_and_restart_only_ones_are_named() {
        let base = config("[node]\nname = \"a\"");
        assert!(restart_only_changes(&base, &config("[node]\nname = \"b\"")).is_empty());
        assert!(restart_only_changes(
            &base,
            &config("[node]\nname = \"a\"\n[limits]\nrequest-body-timeout-ms = 1000")
        )
        .is_empty());
        let changes = restart_only_changes(
            &base,
            &config("[node]\nname = \"a\"\nworker-threads = 7\n[limits]\nmax-connections = 5\n[cache]\nmax-bytes = 2097152"),
        );
        let keys: Vec<&str> = changes
            .iter()
            .map(|c| c.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "node.worker-threads",
                "cache.max-bytes",
                // Derived from max-bytes when not set (a quarter of it).
                "cache.max-object-bytes",
                "limits.max-connections"
            ]
        );
    }
}
