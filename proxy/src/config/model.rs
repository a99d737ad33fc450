//! The validated configuration: what the server is built from. Every value here has passed its
//! section's checks (`listeners.rs`, `limits.rs`, `origins.rs`, `functions.rs`,
//! `behaviors.rs`, `cache.rs`, `node.rs`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::event_model::{Invocation, QueueSettings, RealtimeLogs};
use super::node::{AdminSettings, NodeSettings};
use super::pattern::Pattern;
use crate::lambda::Payload;
use edge_event::EventType;

/// The only configuration format version this build understands.
pub const CONFIG_VERSION: i64 = 1;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from (relative paths inside it are relative to its folder).
    pub source: PathBuf,
    /// Viewer-facing listeners.
    pub listeners: Vec<Listener>,
    /// The admin listener (`/healthz`, `/metrics`, purge, reload).
    pub admin: AdminSettings,
    /// Request hygiene thresholds.
    pub limits: Limits,
    /// How the node process runs.
    pub node: NodeSettings,
    /// Origins by name.
    pub origins: BTreeMap<String, Origin>,
    /// WebAssembly functions.
    pub functions: Vec<FunctionConfig>,
    /// Behaviors in match order; the default behavior is last.
    pub behaviors: Vec<Behavior>,
    /// Cache storage and purge settings.
    pub cache: CacheSettings,
    /// The durable queue behind event invocations.
    pub queue: QueueSettings,
    /// Real-time logs delivered to a function, when configured.
    pub realtime_logs: Option<RealtimeLogs>,
}

impl Config {
    /// Whether any origin invokes its function asynchronously (the queue must be open).
    pub fn uses_queue(&self) -> bool {
        self.realtime_logs.is_some()
            || self.origins.values().any(|o| {
                matches!(
                    o,
                    Origin::Function(FunctionOrigin {
                        invocation: Invocation::Event(_),
                        ..
                    })
                )
            })
    }
}

/// The node's cache storage: one memory store shared by every behavior whose policy caches.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Byte budget of the store (bodies plus headers); least recently used objects go first.
    pub max_bytes: usize,
    /// Objects larger than this are served but not stored.
    pub max_object_bytes: usize,
    /// How long requests for a key being fetched wait for it before going to the origin too.
    pub lock_timeout: Duration,
    /// Bearer token `POST /cache/purge` requires; without one the purge API is off.
    pub purge_token: Option<String>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_bytes: 256 * 1024 * 1024,
            max_object_bytes: 16 * 1024 * 1024,
            lock_timeout: Duration::from_secs(5),
            purge_token: None,
        }
    }
}

/// A behavior's cache policy (CloudFront's cache policy): TTL bounds and the cache key.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// Lower bound on the TTL an origin's `Cache-Control`/`Expires` gives.
    pub min_ttl: Duration,
    /// TTL when the origin gives none.
    pub default_ttl: Duration,
    /// Upper bound on the TTL.
    pub max_ttl: Duration,
    /// Query string parameters in the key.
    pub query_strings: KeyItems,
    /// Request headers in the key (lowercase names).
    pub headers: KeyItems,
    /// Cookies in the key.
    pub cookies: KeyItems,
    /// Store responses to requests carrying `Authorization` (off by default, as HTTP caches).
    pub cache_authorized: bool,
    /// How long an error response without its own freshness is stored, per status that differs
    /// from [`DEFAULT_ERROR_CACHING_MIN_TTL`] (CloudFront's error caching minimum TTL).
    pub error_caching_min_ttl: Vec<(u16, Duration)>,
}

/// CloudFront's default error caching minimum TTL: an origin's error is retried after 10 s,
/// not kept for the default TTL.
pub const DEFAULT_ERROR_CACHING_MIN_TTL: Duration = Duration::from_secs(10);

/// The error statuses CloudFront caches (for the error caching minimum TTL when the origin
/// gives no freshness); other 4xx/5xx are stored only with explicit freshness.
pub const CACHED_ERROR_STATUSES: &[u16] = &[400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];

impl CachePolicy {
    /// How long an error response with `status` and no freshness of its own is stored.
    pub fn error_ttl(&self, status: u16) -> Option<Duration> {
        if !CACHED_ERROR_STATUSES.contains(&status) {
            return None;
        }
        Some(
            self.error_caching_min_ttl
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(DEFAULT_ERROR_CACHING_MIN_TTL, |(_, t)| *t),
        )
    }
}

impl Default for CachePolicy {
    /// CloudFront's defaults: min 0, default 1 day, max 1 year; key = host + path.
    fn default() -> Self {
        CachePolicy {
            min_ttl: Duration::ZERO,
            default_ttl: Duration::from_secs(86_400),
            max_ttl: Duration::from_secs(31_536_000),
            query_strings: KeyItems::None,
            headers: KeyItems::None,
            cookies: KeyItems::None,
            cache_authorized: false,
            error_caching_min_ttl: Vec::new(),
        }
    }
}

/// Which items of one kind (query strings, headers, cookies) a cache key includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyItems {
    /// None of them.
    None,
    /// Every one, sorted by name.
    All,
    /// Only these names.
    Only(Vec<String>),
}

/// A viewer-facing listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// `ip:port` to bind.
    pub address: SocketAddr,
    /// Present for HTTPS listeners.
    pub tls: Option<ListenerTls>,
}

/// Certificate files of an HTTPS listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Offer HTTP/2 by ALPN.
    pub http2: bool,
}

/// Request hygiene thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Larger request header blocks get 431.
    pub max_request_header_bytes: usize,
    /// Longer request lines (method, target, version) get 414.
    pub max_request_line_bytes: usize,
    /// Longer single header lines get 431.
    pub max_request_header_line_bytes: usize,
    /// A request whose header block has not fully arrived after this long gets 408.
    pub request_header_timeout: Duration,
    /// A keep-alive connection (HTTP/1 or HTTP/2) idle this long between requests is closed.
    pub idle_timeout: Duration,
    /// Viewer connections open at once; a connection beyond it is closed at accept.
    pub max_connections: usize,
    /// A request body not fully received this long after the request started gets 408.
    pub request_body_timeout: Duration,
    /// A request body with no bytes for this long gets 408 (nginx's `client_body_timeout`).
    pub request_body_idle_timeout: Duration,
    /// Streams one HTTP/2 connection may have open at once.
    pub h2_max_concurrent_streams: u32,
}

impl Default for Limits {
    /// nginx's defaults where nginx has the limit (keep-alive 75 s, body reads 60 s).
    fn default() -> Self {
        Limits {
            max_request_header_bytes: 32 * 1024,
            max_request_line_bytes: 32 * 1024,
            max_request_header_line_bytes: 32 * 1024,
            request_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            request_body_timeout: Duration::from_secs(300),
            request_body_idle_timeout: Duration::from_secs(60),
            h2_max_concurrent_streams: 100,
        }
    }
}

/// An origin: where a behavior sends requests.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Upstream HTTP(S) servers.
    Http(HttpOrigin),
    /// A local directory served like an S3 bucket.
    Files(FilesOrigin),
    /// A function behind an ALB-style target group.
    Function(FunctionOrigin),
}

/// A target group of kind function: HTTP is translated to the ALB's JSON event and back.
#[derive(Debug, Clone)]
pub struct FunctionOrigin {
    /// `requestContext.elb.targetGroupArn` in events.
    pub target_group_arn: String,
    /// The `lambda.multi_value_headers.enabled` attribute.
    pub multi_value_headers: bool,
    /// How long to wait for the function.
    pub timeout: Duration,
    /// The JSON shape the function speaks.
    pub payload: Payload,
    /// Who answers.
    pub target: FunctionTarget,
    /// Whether the viewer waits for the function or gets 202 while it runs later.
    pub invocation: Invocation,
}

/// The one target of a function target group.
#[derive(Debug, Clone)]
pub enum FunctionTarget {
    /// A `[functions.<name>]` component implementing the `lambda` world.
    Wasm(String),
    /// An endpoint speaking the Lambda Invoke API (e.g. the Lambda Runtime Interface Emulator).
    InvokeUrl(String),
}

/// Upstream HTTP(S) servers behind one name.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOrigin {
    /// `host:port` of each server.
    pub servers: Vec<String>,
    /// Connect with TLS.
    pub tls: bool,
    /// SNI (and certificate name) for TLS; defaults to the server's host.
    pub sni: Option<String>,
    /// Verify the server certificate.
    pub verify: bool,
    /// `Host` header to send instead of the viewer's.
    pub host_header: Option<String>,
    /// TCP (and TLS) connect timeout → 502 when exceeded.
    pub connect_timeout: Duration,
    /// Time to wait for the origin's response → 504 when exceeded.
    pub read_timeout: Duration,
    /// How long an idle keep-alive connection to the origin is kept.
    pub idle_timeout: Duration,
    /// How a server is chosen.
    pub balance: Balance,
    /// Active health checking, if any.
    pub health_check: Option<HealthCheck>,
}

/// Load balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Each server in turn.
    RoundRobin,
    /// Ketama consistent hashing on the request path, so one object keeps one server.
    ConsistentHash,
}

/// Active health checking of an origin's servers.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// `tcp` connects; `http` expects a 2xx for `GET path`.
    pub kind: HealthCheckKind,
    /// How often each server is checked.
    pub interval: Duration,
}

/// What a health check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// A TCP connect succeeds.
    Tcp,
    /// `GET <path>` answers 2xx.
    Http {
        /// Path requested.
        path: String,
    },
}

/// A local directory served like an S3 bucket.
#[derive(Debug, Clone)]
pub struct FilesOrigin {
    /// The directory; nothing outside it is ever served.
    pub root: PathBuf,
    /// Object served for a key ending in `/` (S3 static website's index document).
    pub index: Option<String>,
}

/// A cache behavior: which requests go to which origin.
#[derive(Debug, Clone)]
pub struct Behavior {
    /// Label used in metrics and logs: the path pattern (`*` for the default).
    pub name: String,
    /// Host pattern; `None` matches every host.
    pub host: Option<Pattern>,
    /// Path pattern.
    pub path: Pattern,
    /// Origin name (a key of [`Config::origins`]).
    pub origin: String,
    /// Function associations.
    pub hooks: Hooks,
    /// The cache policy; `None` passes every request to the origin.
    pub cache: Option<CachePolicy>,
}

/// A behavior's function associations, at most one per event type (as CloudFront allows).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub(super) associations: [Option<Association>; 4],
}

impl Hooks {
    /// The association for `event`, if any.
    pub fn get(&self, event: EventType) -> Option<&Association> {
        self.associations[event as usize].as_ref()
    }

    /// Whether no function is associated.
    pub fn is_empty(&self) -> bool {
        self.associations.iter().all(Option::is_none)
    }
}

/// A function association.
#[derive(Debug, Clone)]
pub struct Association {
    /// Function name.
    pub function: String,
    /// Expose the request body (viewer-request and origin-request only).
    pub include_body: bool,
}

/// A WebAssembly function: its module and limits, as a Lambda function's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    /// Name used in associations, logs and metrics.
    pub name: String,
    /// The component (`.wasm`).
    pub module: PathBuf,
    /// Memory limit, MB.
    pub memory_mb: u64,
    /// Timeout; `None` uses the trigger's default (5 s viewer, 30 s origin).
    pub timeout_ms: Option<u64>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Warm environments or a fresh instance per invocation.
    pub isolation: Isolation,
    /// Most invocations in flight; beyond it invocations are throttled (503).
    pub max_concurrency: usize,
    /// An environment is recycled after this many invocations.
    pub max_invocations: u64,
    /// An environment idle this long is recycled.
    pub idle_timeout: Duration,
    /// CPU one call may use before it is stopped (503); `None` leaves only the timeout.
    pub cpu_budget_ms: Option<u64>,
}

/// How invocations share instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Warm environments reused across invocations, as Lambda does.
    Warm,
    /// A fresh instance for every invocation.
    PerRequest,
}
