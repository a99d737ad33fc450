//! The configuration file exactly as written: serde structs that reject unknown keys.
//!
//! Fields whose values are checked after parsing (references between sections, addresses,
//! paths) are wrapped in [`Spanned`] so an error can name the line they were written on.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    pub version: Spanned<i64>,
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub node: Option<RawNode>,
    #[serde(default)]
    pub origins: BTreeMap<String, RawOrigin>,
    #[serde(default)]
    pub functions: BTreeMap<String, RawFunction>,
    #[serde(default)]
    pub cache: Option<RawCache>,
    #[serde(default)]
    pub queue: Option<RawQueue>,
    #[serde(default)]
    pub realtime_logs: Option<RawRealtimeLogs>,
    #[serde(default)]
    pub behaviors: Vec<RawBehavior>,
    pub default_behavior: Option<Spanned<RawDefaultBehavior>>,
}

/// `[[listeners]]`: where viewers connect.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawListener {
    pub address: Spanned<String>,
    pub tls: Option<RawListenerTls>,
}

/// `[listeners.tls]`: certificate and key files (PEM) for an HTTPS listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawListenerTls {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
    #[serde(default = "yes")]
    pub http2: bool,
}

/// `[admin]`: the operator's listener for health and metrics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawAdmin {
    pub address: Spanned<String>,
    pub token: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
}

/// `[limits]`: request hygiene thresholds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLimits {
    pub max_request_header_bytes: Option<Spanned<i64>>,
    pub max_request_line_bytes: Option<Spanned<i64>>,
    pub max_request_header_line_bytes: Option<Spanned<i64>>,
    pub request_header_timeout_ms: Option<Spanned<i64>>,
    pub idle_timeout_ms: Option<Spanned<i64>>,
    pub max_connections: Option<Spanned<i64>>,
    pub request_body_timeout_ms: Option<Spanned<i64>>,
    pub request_body_idle_timeout_ms: Option<Spanned<i64>>,
    pub h2_max_concurrent_streams: Option<Spanned<i64>>,
}

/// `[node]`: how this node names itself in `Via` and `CDN-Loop`, and how the process runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNode {
    pub name: Option<Spanned<String>>,
    /// `"auto"` or a number.
    pub worker_threads: Option<Spanned<toml::Value>>,
    pub access_log: Option<bool>,
    pub shutdown_grace_ms: Option<Spanned<i64>>,
    pub upgrade_socket: Option<Spanned<String>>,
    pub module_cache: Option<Spanned<String>>,
    pub slow_lane_threads: Option<Spanned<i64>>,
    pub slow_lane_after_ms: Option<Spanned<i64>>,
    pub hooks_memory_mb: Option<Spanned<i64>>,
    pub distribution_domain_name: Option<Spanned<String>>,
}

/// `[origins.<name>]`: where requests go. One flat table for every `type`, because serde cannot
/// keep spans (line numbers) inside an internally tagged enum; which keys a type accepts is
/// checked during validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOrigin {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    // type = "http"
    pub servers: Option<Spanned<Vec<String>>>,
    pub tls: Option<Spanned<bool>>,
    pub sni: Option<Spanned<String>>,
    pub verify: Option<Spanned<bool>>,
    pub host_header: Option<Spanned<String>>,
    pub connect_timeout_ms: Option<Spanned<i64>>,
    pub read_timeout_ms: Option<Spanned<i64>>,
    pub idle_timeout_ms: Option<Spanned<i64>>,
    pub balance: Option<Spanned<String>>,
    pub health_check: Option<Spanned<RawHealthCheck>>,
    // type = "files"
    pub root: Option<Spanned<String>>,
    pub index: Option<Spanned<String>>,
    // type = "function"
    pub payload: Option<Spanned<String>>,
    pub multi_value_headers: Option<Spanned<bool>>,
    pub target_group_arn: Option<Spanned<String>>,
    pub timeout_ms: Option<Spanned<i64>>,
    pub function: Option<Spanned<String>>,
    pub invoke_url: Option<Spanned<String>>,
    pub invocation: Option<Spanned<String>>,
    pub maximum_retry_attempts: Option<Spanned<i64>>,
    pub maximum_event_age_seconds: Option<Spanned<i64>>,
    pub retry_delays_ms: Option<Spanned<Vec<i64>>>,
    pub on_success: Option<Spanned<String>>,
    pub on_failure: Option<Spanned<String>>,
    pub dead_letter: Option<Spanned<String>>,
    pub function_arn: Option<Spanned<String>>,
}

/// `[origins.<name>.health-check]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHealthCheck {
    pub kind: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub interval_ms: Option<Spanned<i64>>,
}

/// `[[behaviors]]`: host + path pattern → origin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBehavior {
    pub host: Option<Spanned<String>>,
    pub path: Spanned<String>,
    pub origin: Spanned<String>,
    pub hooks: Option<RawHooks>,
    pub cache: Option<Spanned<RawCachePolicy>>,
}

/// `[default-behavior]`: what matches when no behavior does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDefaultBehavior {
    pub origin: Spanned<String>,
    pub hooks: Option<RawHooks>,
    pub cache: Option<Spanned<RawCachePolicy>>,
}

/// `[cache]`: the node's cache storage and its purge API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCache {
    pub max_bytes: Option<Spanned<i64>>,
    pub max_object_bytes: Option<Spanned<i64>>,
    pub lock_timeout_ms: Option<Spanned<i64>>,
    pub purge_token: Option<Spanned<String>>,
    pub purge_token_env: Option<Spanned<String>>,
}

/// `[queue]`: the durable queue behind event invocations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawQueue {
    pub backend: Option<Spanned<String>>,
    pub data_dir: Option<Spanned<String>>,
    pub max_events: Option<Spanned<i64>>,
    pub max_bytes: Option<Spanned<i64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub nats_url: Option<Spanned<String>>,
    pub stream: Option<Spanned<String>>,
    pub ack_wait_ms: Option<Spanned<i64>>,
}

/// `[realtime-logs]`: CloudFront's real-time logs, delivered to a function in batches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRealtimeLogs {
    pub function: Spanned<String>,
    pub sampling_rate: Option<Spanned<i64>>,
    pub fields: Option<Spanned<Vec<String>>>,
    pub batch_size: Option<Spanned<i64>>,
    pub batch_window_ms: Option<Spanned<i64>>,
    pub maximum_retry_attempts: Option<Spanned<i64>>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub on_failure: Option<Spanned<String>>,
    pub timeout_ms: Option<Spanned<i64>>,
}

/// `[behaviors.cache]`: a behavior's cache policy (CloudFront's cache policy).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCachePolicy {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub min_ttl: Option<Spanned<i64>>,
    pub default_ttl: Option<Spanned<i64>>,
    pub max_ttl: Option<Spanned<i64>>,
    pub query_strings: Option<Spanned<RawKeyItems>>,
    pub headers: Option<Spanned<RawKeyItems>>,
    pub cookies: Option<Spanned<RawKeyItems>>,
    #[serde(default)]
    pub cache_authorized: bool,
    /// Status code (as a string key) → seconds: CloudFront's error caching minimum TTL.
    pub error_caching_min_ttl: Option<Spanned<std::collections::BTreeMap<String, Spanned<i64>>>>,
}

/// Which query strings, headers or cookies go into the cache key: `"none"`, `"all"`, or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawKeyItems {
    Mode(String),
    List(Vec<String>),
}

/// `[functions.<name>]`: a WebAssembly function (a Lambda@Edge function's configuration).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFunction {
    pub module: Spanned<String>,
    pub memory_mb: Option<Spanned<i64>>,
    pub timeout_ms: Option<Spanned<i64>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub isolation: Option<Spanned<String>>,
    pub max_concurrency: Option<Spanned<i64>>,
    pub max_invocations: Option<Spanned<i64>>,
    pub idle_timeout_ms: Option<Spanned<i64>>,
    pub cpu_budget_ms: Option<Spanned<i64>>,
}

/// `[behaviors.hooks]`: function associations, one per event type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHooks {
    pub viewer_request: Option<RawAssociation>,
    pub origin_request: Option<RawAssociation>,
    pub origin_response: Option<RawAssociation>,
    pub viewer_response: Option<RawAssociation>,
}

/// One association: which function, and whether it sees the request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawAssociation {
    pub function: Spanned<String>,
    pub include_body: Option<Spanned<bool>>,
}

fn yes() -> bool {
    true
}
