//! `[node]` and `[admin]`: how the process runs — its name, threads, shutdown, upgrade socket,
//! compiled-module cache — and the operator's listener with its token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::IssueSink;
use super::raw::{RawAdmin, RawNode};
use super::values::{in_range, secret, socket_addr};

/// How the node process runs.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    /// The name this node uses in `Via` and `CDN-Loop`, and the events' `distributionId`.
    pub name: String,
    /// The events' `config.distributionDomainName`: CloudFront's `dxxxxxxxxxxxxx.cloudfront.net`
    /// form made from `name` unless configured, so a ported function reading it sees the form it
    /// knows, and the same value on every request whatever `Host` the viewer sent.
    pub distribution_domain_name: String,
    /// Pingora worker threads per service (`"auto"`: one per core).
    pub worker_threads: usize,
    /// Write one JSON access-log line per request to stdout.
    pub access_log: bool,
    /// How long requests in flight at SIGTERM may take to finish before the process exits.
    pub shutdown_grace: Duration,
    /// Where a new process started with `run --upgrade` waits for this one's listening sockets.
    pub upgrade_socket: PathBuf,
    /// Directory of compiled components kept across starts and reloads; `None` compiles every
    /// time.
    pub module_cache: Option<PathBuf>,
    /// What keeps one function from starving the others.
    pub hooks: HookNodeSettings,
}

/// `[node]` keys for the resources every function shares (see docs/hooks.md, "Noisy
/// neighbours").
#[derive(Debug, Clone, PartialEq)]
pub struct HookNodeSettings {
    /// Threads of the slow lane (0: calls never leave the worker that started them).
    pub slow_lane_threads: usize,
    /// CPU a call may use on the request's worker before it moves to the slow lane.
    pub slow_lane_after: Duration,
    /// Linear memory of all environments together, MB; `None` is no node-wide limit.
    pub memory_mb: Option<u64>,
}

impl Default for HookNodeSettings {
    /// One lane thread, calls moving after 1 ms of CPU (CloudFront Functions' whole budget), no
    /// node-wide memory limit.
    fn default() -> Self {
        HookNodeSettings {
            slow_lane_threads: 1,
            slow_lane_after: Duration::from_millis(1),
            memory_mb: None,
        }
    }
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminSettings {
    /// `ip:port` of `/healthz`, `/metrics`, `/cache/purge` and `/reload`.
    pub address: SocketAddr,
    /// Bearer token `POST /reload` requires; without one reloads come only by SIGHUP.
    pub token: Option<String>,
}

/// The default admin address.
const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    9080,
);

/// As Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub(super) fn admin_settings(raw: Option<&RawAdmin>, sink: &mut IssueSink) -> AdminSettings {
    let Some(a) = raw else {
        return AdminSettings {
            address: DEFAULT_ADMIN,
            token: None,
        };
    };
    AdminSettings {
        address: socket_addr(&a.address, "admin.address", sink).unwrap_or(DEFAULT_ADMIN),
        token: secret(a.token.as_ref(), a.token_env.as_ref(), "admin.token", sink),
    }
}

pub(super) fn node_settings(
    raw: Option<&RawNode>,
    admin: &AdminSettings,
    base: &Path,
    sink: &mut IssueSink,
) -> NodeSettings {
    let mut node = NodeSettings {
        name: "edge-proxy".to_string(),
        worker_threads: cores(),
        access_log: true,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        upgrade_socket: std::env::temp_dir()
            .join(format!("edge-proxy-{}.upgrade.sock", admin.address.port())),
        module_cache: default_module_cache(),
        hooks: HookNodeSettings::default(),
        distribution_domain_name: String::new(),
    };
    let Some(n) = raw else {
        node.distribution_domain_name = cloudfront_domain(&node.name);
        return node;
    };
    if let Some(name) = &n.name {
        let valid = !name.get_ref().is_empty()
            && name
                .get_ref()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if valid {
            node.name = name.get_ref().clone();
        } else {
            sink.at(
                Some(name.span()),
                "node.name",
                "must be a non-empty token of letters, digits, '-', '.', '_'",
            );
        }
    }
    if let Some(t) = &n.worker_threads {
        if let Some(t) = worker_threads(t, sink) {
            node.worker_threads = t;
        }
    }
    if let Some(a) = n.access_log {
        node.access_log = a;
    }
    if let Some(v) = &n.shutdown_grace_ms {
        if let Some(ms) = in_range(v, 0, 3_600_000, "node.shutdown-grace-ms", sink) {
            node.shutdown_grace = Duration::from_millis(ms as u64);
        }
    }
    if let Some(p) = &n.upgrade_socket {
        if p.get_ref().is_empty() {
            sink.at(Some(p.span()), "node.upgrade-socket", "must be a path");
        } else {
            node.upgrade_socket = base.join(p.get_ref());
        }
    }
    if let Some(p) = &n.module_cache {
        node.module_cache = (!p.get_ref().is_empty()).then(|| base.join(p.get_ref()));
    }
    if let Some(v) = &n.slow_lane_threads {
        if let Some(t) = in_range(v, 0, 64, "node.slow-lane-threads", sink) {
            node.hooks.slow_lane_threads = t as usize;
        }
    }
    if let Some(v) = &n.slow_lane_after_ms {
        if let Some(ms) = in_range(v, 0, 60_000, "node.slow-lane-after-ms", sink) {
            node.hooks.slow_lane_after = Duration::from_millis(ms as u64);
        }
    }
    if let Some(v) = &n.hooks_memory_mb {
        node.hooks.memory_mb =
            in_range(v, 1, 1 << 30, "node.hooks-memory-mb", sink).map(|mb| mb as u64);
    }
    node.distribution_domain_name = match &n.distribution_domain_name {
        Some(d) if is_host_name(d.get_ref()) => d.get_ref().to_ascii_lowercase(),
        Some(d) => {
            sink.at(
                Some(d.span()),
                "node.distribution-domain-name",
                "must be a host name (letters, digits, '-', '.')",
            );
            cloudfront_domain(&node.name)
        }
        None => cloudfront_domain(&node.name),
    };
    node
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `d` and 13 base-36 characters of a hash of `name`, then `.cloudfront.net`: the shape of a
/// CloudFront distribution's domain, stable for a node name.
fn cloudfront_domain(name: &str) -> String {
    // FNV-1a: stable across releases and platforms, unlike `std`'s hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut id = String::from("d");
    for _ in 0..13 {
        id.push(char::from_digit((hash % 36) as u32, 36).expect("below 36"));
        hash /= 36;
    }
    id + ".cloudfront.net"
}

/// `worker-threads`: `"auto"` or 1–256.
fn worker_threads(v: &Spanned<toml::Value>, sink: &mut IssueSink) -> Option<usize> {
    match v.get_ref() {
        toml::Value::String(s) if s == "auto" => Some(cores()),
        toml::Value::Integer(n) if (1..=256).contains(n) => Some(*n as usize),
        other => {
            sink.at(
                Some(v.span()),
                "node.worker-threads",
                format!("{other} is neither \"auto\" nor a number in 1..=256"),
            );
            None
        }
    }
}

/// The cores this process may run on.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `$XDG_CACHE_HOME/edge-proxy/modules`, else `~/.cache/edge-proxy/modules`: where compiled
/// components are kept unless `node.module-cache` says otherwise.
pub fn default_module_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("edge-proxy").join("modules"))
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;
    use super::*;

    #[test]
    fn distribution_domain_name_defaults_to_a_cloudfront_domain_of_the_node_name() {
        let a = parse_with("[node]\nname = \"edge-a\"\n").expect("valid");
        let b = parse_with("[node]\nname = \"edge-b\"\n").expect("valid");
        let d = &a.node.distribution_domain_name;
        let id = d
            .strip_suffix(".cloudfront.net")
            .expect("CloudFront's form");
        assert_eq!(id.len(), 14, "{d}");
        assert!(id.starts_with('d'));
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_ne!(d, &b.node.distribution_domain_name, "one per node name");
        assert_eq!(
            d,
            &parse_with("[node]\nname = \"edge-a\"\n")
                .unwrap()
                .node
                .distribution_domain_name
        );
        let set =
            parse_with("[node]\ndistribution-domain-name = \"Cdn.Example.com\"\n").expect("valid");
        assert_eq!(set.node.distribution_domain_name, "cdn.example.com");
        let bad = parse_with("[node]\ndistribution-domain-name = \"a b\"\n").unwrap_err();
        assert!(
            bad.to_string().contains("node.distribution-domain-name"),
            "{bad}"
        );
    }

    #[test]
    fn hook_sharing_defaults_to_one_lane_thread_after_1_ms_and_no_memory_budget() {
        let config = parse_with("").expect("valid");
        assert_eq!(config.node.hooks, HookNodeSettings::default());
        assert_eq!(config.node.hooks.slow_lane_threads, 1);
        assert_eq!(config.node.hooks.slow_lane_after, Duration::from_millis(1));
        assert_eq!(config.node.hooks.memory_mb, None);
    }

    #[test]
    fn hook_sharing_keys_are_read() {
        let config = parse_with(
            "[node]\nslow-lane-threads = 0\nslow-lane-after-ms = 5\nhooks-memory-mb = 512\n",
        )
        .expect("valid");
        assert_eq!(
            config.node.hooks,
            HookNodeSettings {
                slow_lane_threads: 0,
                slow_lane_after: Duration::from_millis(5),
                memory_mb: Some(512),
            }
        );
    }
}
