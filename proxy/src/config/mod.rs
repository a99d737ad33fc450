//! Configuration: the TOML file (`raw`) parsed strictly, then checked and turned into the
//! model the server is built from. A file that fails any check yields a [`ConfigError`]
//! listing every problem with file, line and key; nothing half-valid is ever returned.

mod error;
mod node;
mod pattern;
mod raw;
mod restart;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigIssue};
pub use node::{default_module_cache, AdminSettings, NodeSettings};
pub use pattern::Pattern;
pub use restart::restart_only_changes;

use error::IssueSink;
use raw::{RawCache, RawCachePolicy, RawConfig, RawHooks, RawKeyItems, RawOrigin};

use crate::lambda::Payload;
use edge_event::EventType;
use toml::Spanned;

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
}

/// The one target of a function target group.
#[derive(Debug, Clone)]
pub enum FunctionTarget {
    /// A `[functions.<name>]` component implementing the `function` world.
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
    associations: [Option<Association>; 4],
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
}

/// How invocations share instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Warm environments reused across invocations, as Lambda does.
    Warm,
    /// A fresh instance for every invocation.
    PerRequest,
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            issues: vec![ConfigIssue {
                line: None,
                key: String::new(),
                message: format!("cannot read file: {e}"),
            }],
        })?;
        Self::parse(path, &text)
    }

    /// Validates `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw = parse_raw(path, text)?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut sink = IssueSink::new(text);
        let config = build(raw, path, &base, &mut sink);
        sink.finish(path)?;
        Ok(config)
    }

    /// The behavior matching `host` and `path`, in order, falling back to the default.
    pub fn behavior_for(&self, host: &str, path: &str) -> &Behavior {
        self.behaviors
            .iter()
            .find(|b| b.host.as_ref().is_none_or(|h| h.matches(host)) && b.path.matches(path))
            .unwrap_or_else(|| {
                self.behaviors
                    .last()
                    .expect("default behavior is always present")
            })
    }
}

fn parse_raw(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    let fail = |span: Option<std::ops::Range<usize>>, key: String, message: String| {
        let mut sink = IssueSink::new(text);
        sink.at(span, key, message);
        sink.finish(path).expect_err("one issue was recorded")
    };
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| fail(e.span(), String::new(), e.message().trim().to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let inner = e.into_inner();
        fail(inner.span(), key, inner.message().trim().to_string())
    })
}

fn build(raw: RawConfig, path: &Path, base: &Path, sink: &mut IssueSink) -> Config {
    let _ = path;
    if *raw.version.get_ref() != CONFIG_VERSION {
        sink.at(
            Some(raw.version.span()),
            "version",
            format!(
                "unsupported version {}, expected {CONFIG_VERSION}",
                raw.version.get_ref()
            ),
        );
    }

    let mut listeners = Vec::new();
    if raw.listeners.is_empty() {
        sink.at(None, "listeners", "at least one [[listeners]] is required");
    }
    for (i, l) in raw.listeners.iter().enumerate() {
        let key = format!("listeners[{i}]");
        let Some(address) = socket_addr(&l.address, &format!("{key}.address"), sink) else {
            continue;
        };
        let tls = l.tls.as_ref().map(|t| ListenerTls {
            cert: existing_file(&t.cert, base, &format!("{key}.tls.cert"), sink),
            key: existing_file(&t.key, base, &format!("{key}.tls.key"), sink),
            http2: t.http2,
        });
        listeners.push(Listener { address, tls });
    }

    let admin = node::admin_settings(raw.admin.as_ref(), sink);

    let mut limits = Limits::default();
    if let Some(l) = &raw.limits {
        if let Some(v) = &l.max_request_header_bytes {
            if let Some(n) = in_range(
                v,
                1024,
                1024 * 1024,
                "limits.max-request-header-bytes",
                sink,
            ) {
                limits.max_request_header_bytes = n as usize;
            }
        }
        let millis = |v: &Option<Spanned<i64>>, key: &str, max: i64, sink: &mut IssueSink| {
            v.as_ref()
                .and_then(|v| in_range(v, 1, max, &format!("limits.{key}"), sink))
                .map(|n| Duration::from_millis(n as u64))
        };
        if let Some(d) = millis(
            &l.request_header_timeout_ms,
            "request-header-timeout-ms",
            600_000,
            sink,
        ) {
            limits.request_header_timeout = d;
        }
        if let Some(d) = millis(&l.idle_timeout_ms, "idle-timeout-ms", 3_600_000, sink) {
            limits.idle_timeout = d;
        }
        if let Some(d) = millis(
            &l.request_body_timeout_ms,
            "request-body-timeout-ms",
            3_600_000,
            sink,
        ) {
            limits.request_body_timeout = d;
        }
        if let Some(d) = millis(
            &l.request_body_idle_timeout_ms,
            "request-body-idle-timeout-ms",
            3_600_000,
            sink,
        ) {
            limits.request_body_idle_timeout = d;
        }
        if let Some(v) = &l.max_connections {
            if let Some(n) = in_range(v, 1, 10_000_000, "limits.max-connections", sink) {
                limits.max_connections = n as usize;
            }
        }
        if let Some(v) = &l.h2_max_concurrent_streams {
            if let Some(n) = in_range(v, 1, 10_000, "limits.h2-max-concurrent-streams", sink) {
                limits.h2_max_concurrent_streams = n as u32;
            }
        }
    }

    let node = node::node_settings(raw.node.as_ref(), &admin, base, sink);

    let mut origins = BTreeMap::new();
    for (name, o) in &raw.origins {
        let key = format!("origins.{name}");
        let Some(origin) = origin(o, &key, base, sink) else {
            continue;
        };
        origins.insert(name.clone(), origin);
    }

    let mut functions = Vec::new();
    for (name, f) in &raw.functions {
        let key = format!("functions.{name}");
        let module = existing_file(&f.module, base, &format!("{key}.module"), sink);
        let memory_mb = f
            .memory_mb
            .as_ref()
            .and_then(|v| in_range(v, 1, 10_240, &format!("{key}.memory-mb"), sink))
            .map(|n| n as u64)
            .unwrap_or(edge_event::limits::DEFAULT_MEMORY_MB);
        let timeout_ms = f
            .timeout_ms
            .as_ref()
            .and_then(|v| in_range(v, 1, 900_000, &format!("{key}.timeout-ms"), sink))
            .map(|n| n as u64);
        let isolation = match f.isolation.as_ref().map(|i| i.get_ref().as_str()) {
            None | Some("warm") => Isolation::Warm,
            Some("per-request") => Isolation::PerRequest,
            Some(other) => {
                sink.at(
                    f.isolation.as_ref().map(|i| i.span()),
                    format!("{key}.isolation"),
                    format!("unknown isolation \"{other}\", expected \"warm\" or \"per-request\""),
                );
                Isolation::Warm
            }
        };
        let max_concurrency = f
            .max_concurrency
            .as_ref()
            .and_then(|v| in_range(v, 1, 1000, &format!("{key}.max-concurrency"), sink))
            .unwrap_or(64) as usize;
        let max_invocations = f
            .max_invocations
            .as_ref()
            .and_then(|v| in_range(v, 1, i64::MAX, &format!("{key}.max-invocations"), sink))
            .unwrap_or(100_000) as u64;
        let idle_timeout = f
            .idle_timeout_ms
            .as_ref()
            .and_then(|v| in_range(v, 1, 86_400_000, &format!("{key}.idle-timeout-ms"), sink))
            .map(|n| Duration::from_millis(n as u64))
            .unwrap_or(Duration::from_secs(300));
        functions.push(FunctionConfig {
            name: name.clone(),
            module,
            memory_mb,
            timeout_ms,
            env: f.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            isolation,
            max_concurrency,
            max_invocations,
            idle_timeout,
        });
    }

    for (name, origin) in &origins {
        if let Origin::Function(FunctionOrigin {
            target: FunctionTarget::Wasm(f),
            ..
        }) = origin
        {
            if !raw.functions.contains_key(f) {
                let span = raw.origins[name].function.as_ref().map(|s| s.span());
                sink.at(
                    span,
                    format!("origins.{name}.function"),
                    format!("unknown function \"{f}\""),
                );
            }
        }
    }

    let mut behaviors = Vec::new();
    let check_origin = |origin: &Spanned<String>, key: String, sink: &mut IssueSink| {
        if !origins.contains_key(origin.get_ref()) {
            sink.at(
                Some(origin.span()),
                key,
                format!("unknown origin \"{}\"", origin.get_ref()),
            );
        }
    };
    for (i, b) in raw.behaviors.iter().enumerate() {
        let key = format!("behaviors[{i}]");
        check_origin(&b.origin, format!("{key}.origin"), sink);
        let path = b.path.get_ref();
        if !(path.starts_with('/') || path.starts_with('*')) {
            sink.at(
                Some(b.path.span()),
                format!("{key}.path"),
                "a path pattern starts with '/' or '*'",
            );
        }
        behaviors.push(Behavior {
            name: path.clone(),
            host: b.host.as_ref().map(|h| Pattern::host(h.get_ref())),
            path: Pattern::path(path),
            origin: b.origin.get_ref().clone(),
            hooks: hooks(b.hooks.as_ref(), &key, &raw.functions, sink),
            cache: b
                .cache
                .as_ref()
                .and_then(|c| cache_policy(c.get_ref(), &format!("{key}.cache"), sink)),
        });
    }
    match &raw.default_behavior {
        Some(d) => {
            check_origin(&d.get_ref().origin, "default-behavior.origin".into(), sink);
            behaviors.push(Behavior {
                name: "*".into(),
                host: None,
                path: Pattern::path("*"),
                origin: d.get_ref().origin.get_ref().clone(),
                hooks: hooks(
                    d.get_ref().hooks.as_ref(),
                    "default-behavior",
                    &raw.functions,
                    sink,
                ),
                cache: d
                    .get_ref()
                    .cache
                    .as_ref()
                    .and_then(|c| cache_policy(c.get_ref(), "default-behavior.cache", sink)),
            });
        }
        None => sink.at(
            None,
            "default-behavior",
            "a [default-behavior] with an origin is required",
        ),
    }

    Config {
        source: path.to_path_buf(),
        listeners,
        admin,
        limits,
        node,
        origins,
        functions,
        behaviors,
        cache: cache_settings(raw.cache.as_ref(), sink),
    }
}

fn cache_settings(raw: Option<&RawCache>, sink: &mut IssueSink) -> CacheSettings {
    let mut settings = CacheSettings::default();
    let Some(c) = raw else {
        return settings;
    };
    if let Some(n) = c
        .max_bytes
        .as_ref()
        .and_then(|v| in_range(v, 1024 * 1024, 1 << 40, "cache.max-bytes", sink))
    {
        settings.max_bytes = n as usize;
        settings.max_object_bytes = settings.max_object_bytes.min(settings.max_bytes / 4);
    }
    if let Some(v) = &c.max_object_bytes {
        if let Some(n) = in_range(
            v,
            1,
            settings.max_bytes as i64,
            "cache.max-object-bytes",
            sink,
        ) {
            settings.max_object_bytes = n as usize;
        }
    }
    if let Some(v) = &c.lock_timeout_ms {
        if let Some(n) = in_range(v, 1, 600_000, "cache.lock-timeout-ms", sink) {
            settings.lock_timeout = Duration::from_millis(n as u64);
        }
    }
    settings.purge_token = secret(
        c.purge_token.as_ref(),
        c.purge_token_env.as_ref(),
        "cache.purge-token",
        sink,
    );
    settings
}

fn cache_policy(c: &RawCachePolicy, key: &str, sink: &mut IssueSink) -> Option<CachePolicy> {
    if !c.enabled {
        return None;
    }
    let mut policy = CachePolicy::default();
    let ttl = |v: &Option<Spanned<i64>>, name: &str, sink: &mut IssueSink| {
        v.as_ref()
            .and_then(|v| in_range(v, 0, 31_536_000 * 10, &format!("{key}.{name}"), sink))
            .map(|n| Duration::from_secs(n as u64))
    };
    if let Some(t) = ttl(&c.min_ttl, "min-ttl", sink) {
        policy.min_ttl = t;
    }
    if let Some(t) = ttl(&c.max_ttl, "max-ttl", sink) {
        policy.max_ttl = t;
    }
    if let Some(t) = ttl(&c.default_ttl, "default-ttl", sink) {
        policy.default_ttl = t;
    }
    policy.default_ttl = policy.default_ttl.min(policy.max_ttl);
    if policy.min_ttl > policy.max_ttl {
        sink.at(
            c.min_ttl.as_ref().map(|v| v.span()),
            format!("{key}.min-ttl"),
            "min-ttl is larger than max-ttl",
        );
    }
    let items = |v: &Option<Spanned<RawKeyItems>>, name: &str, all: bool, sink: &mut IssueSink| {
        let Some(v) = v else {
            return KeyItems::None;
        };
        match v.get_ref() {
            RawKeyItems::Mode(m) if m == "none" => KeyItems::None,
            RawKeyItems::Mode(m) if m == "all" && all => KeyItems::All,
            RawKeyItems::Mode(m) => {
                let expected = if all {
                    "\"none\", \"all\" or a list of names"
                } else {
                    "\"none\" or a list of names"
                };
                sink.at(
                    Some(v.span()),
                    format!("{key}.{name}"),
                    format!("unknown value \"{m}\", expected {expected}"),
                );
                KeyItems::None
            }
            RawKeyItems::List(names) => {
                // Header names are case-insensitive; query strings and cookies are not.
                let mut names: Vec<String> = names
                    .iter()
                    .map(|n| {
                        if all {
                            n.clone()
                        } else {
                            n.to_ascii_lowercase()
                        }
                    })
                    .collect();
                names.sort();
                names.dedup();
                KeyItems::Only(names)
            }
        }
    };
    policy.query_strings = items(&c.query_strings, "query-strings", true, sink);
    policy.headers = items(&c.headers, "headers", false, sink);
    policy.cookies = items(&c.cookies, "cookies", true, sink);
    policy.cache_authorized = c.cache_authorized;
    for (status, seconds) in c.error_caching_min_ttl.iter().flat_map(|t| t.get_ref()) {
        let name = format!("{key}.error-caching-min-ttl.{status}");
        let code = status
            .parse::<u16>()
            .ok()
            .filter(|s| CACHED_ERROR_STATUSES.contains(s));
        let Some(code) = code else {
            sink.at(
                Some(seconds.span()),
                name,
                format!("\"{status}\" is not a status CloudFront caches as an error (one of {CACHED_ERROR_STATUSES:?})"),
            );
            continue;
        };
        if let Some(n) = in_range(seconds, 0, 31_536_000, &name, sink) {
            policy
                .error_caching_min_ttl
                .push((code, Duration::from_secs(n as u64)));
        }
    }
    Some(policy)
}

fn hooks(
    raw: Option<&RawHooks>,
    key: &str,
    functions: &BTreeMap<String, raw::RawFunction>,
    sink: &mut IssueSink,
) -> Hooks {
    let mut out = Hooks::default();
    let Some(raw) = raw else { return out };
    let each = [
        (EventType::ViewerRequest, &raw.viewer_request),
        (EventType::OriginRequest, &raw.origin_request),
        (EventType::OriginResponse, &raw.origin_response),
        (EventType::ViewerResponse, &raw.viewer_response),
    ];
    for (event, assoc) in each {
        let Some(a) = assoc else { continue };
        let akey = format!("{key}.hooks.{event}");
        if !functions.contains_key(a.function.get_ref()) {
            sink.at(
                Some(a.function.span()),
                format!("{akey}.function"),
                format!("unknown function \"{}\"", a.function.get_ref()),
            );
        }
        let include_body = a.include_body.as_ref().is_some_and(|b| *b.get_ref());
        if include_body && !event.is_request() {
            sink.at(
                a.include_body.as_ref().map(|b| b.span()),
                format!("{akey}.include-body"),
                "only viewer-request and origin-request functions can see the request body",
            );
        }
        out.associations[event as usize] = Some(Association {
            function: a.function.get_ref().clone(),
            include_body,
        });
    }
    out
}

/// Keys each origin type accepts, beyond `type`.
const HTTP_KEYS: &[&str] = &[
    "servers",
    "tls",
    "sni",
    "verify",
    "host-header",
    "connect-timeout-ms",
    "read-timeout-ms",
    "idle-timeout-ms",
    "balance",
    "health-check",
];
const FILES_KEYS: &[&str] = &["root", "index"];
const FUNCTION_KEYS: &[&str] = &[
    "payload",
    "multi-value-headers",
    "target-group-arn",
    "timeout-ms",
    "function",
    "invoke-url",
];

fn origin(o: &RawOrigin, key: &str, base: &Path, sink: &mut IssueSink) -> Option<Origin> {
    let present: [(&str, Option<std::ops::Range<usize>>); 18] = [
        ("payload", o.payload.as_ref().map(|v| v.span())),
        (
            "multi-value-headers",
            o.multi_value_headers.as_ref().map(|v| v.span()),
        ),
        (
            "target-group-arn",
            o.target_group_arn.as_ref().map(|v| v.span()),
        ),
        ("timeout-ms", o.timeout_ms.as_ref().map(|v| v.span())),
        ("function", o.function.as_ref().map(|v| v.span())),
        ("invoke-url", o.invoke_url.as_ref().map(|v| v.span())),
        ("servers", o.servers.as_ref().map(|v| v.span())),
        ("tls", o.tls.as_ref().map(|v| v.span())),
        ("sni", o.sni.as_ref().map(|v| v.span())),
        ("verify", o.verify.as_ref().map(|v| v.span())),
        ("host-header", o.host_header.as_ref().map(|v| v.span())),
        (
            "connect-timeout-ms",
            o.connect_timeout_ms.as_ref().map(|v| v.span()),
        ),
        (
            "read-timeout-ms",
            o.read_timeout_ms.as_ref().map(|v| v.span()),
        ),
        (
            "idle-timeout-ms",
            o.idle_timeout_ms.as_ref().map(|v| v.span()),
        ),
        ("balance", o.balance.as_ref().map(|v| v.span())),
        ("health-check", o.health_check.as_ref().map(|v| v.span())),
        ("root", o.root.as_ref().map(|v| v.span())),
        ("index", o.index.as_ref().map(|v| v.span())),
    ];
    let kind = o.kind.get_ref().as_str();
    let allowed = match kind {
        "http" => HTTP_KEYS,
        "files" => FILES_KEYS,
        "function" => FUNCTION_KEYS,
        other => {
            sink.at(
                Some(o.kind.span()),
                format!("{key}.type"),
                format!(
                    "unknown origin type \"{other}\", expected \"http\", \"files\" or \"function\""
                ),
            );
            return None;
        }
    };
    for (name, span) in present {
        if let Some(span) = span.filter(|_| !allowed.contains(&name)) {
            sink.at(
                Some(span),
                format!("{key}.{name}"),
                format!("not a key of a \"{kind}\" origin"),
            );
        }
    }
    match kind {
        "http" => Some(Origin::Http(http_origin(o, key, sink))),
        "function" => function_origin(o, key, sink).map(Origin::Function),
        _ => {
            let Some(root) = &o.root else {
                sink.at(
                    Some(o.kind.span()),
                    format!("{key}.root"),
                    "a files origin needs a root directory",
                );
                return None;
            };
            let path = base.join(root.get_ref());
            if !path.is_dir() {
                sink.at(
                    Some(root.span()),
                    format!("{key}.root"),
                    format!("not a directory: {}", path.display()),
                );
            }
            Some(Origin::Files(FilesOrigin {
                root: path,
                index: o.index.as_ref().map(|i| i.get_ref().clone()),
            }))
        }
    }
}

fn function_origin(o: &RawOrigin, key: &str, sink: &mut IssueSink) -> Option<FunctionOrigin> {
    let payload = match o.payload.as_ref().map(|p| p.get_ref().as_str()) {
        None | Some("alb") => Payload::Alb,
        Some("api-gateway-v1") => Payload::ApiGatewayV1,
        Some("api-gateway-v2") => Payload::ApiGatewayV2,
        Some(other) => {
            sink.at(
                o.payload.as_ref().map(|p| p.span()),
                format!("{key}.payload"),
                format!("unknown payload \"{other}\", expected \"alb\", \"api-gateway-v1\" or \"api-gateway-v2\""),
            );
            Payload::Alb
        }
    };
    let target = match (&o.function, &o.invoke_url) {
        (Some(f), None) => FunctionTarget::Wasm(f.get_ref().clone()),
        (None, Some(u)) => {
            if !(u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://")) {
                sink.at(
                    Some(u.span()),
                    format!("{key}.invoke-url"),
                    "must be an http:// or https:// URL",
                );
            }
            FunctionTarget::InvokeUrl(u.get_ref().clone())
        }
        _ => {
            sink.at(
                Some(o.kind.span()),
                key.to_string(),
                "a function origin needs exactly one of `function` or `invoke-url`",
            );
            return None;
        }
    };
    let timeout = o
        .timeout_ms
        .as_ref()
        .and_then(|v| in_range(v, 1, 900_000, &format!("{key}.timeout-ms"), sink))
        .map(|n| Duration::from_millis(n as u64))
        .unwrap_or(Duration::from_secs(30));
    Some(FunctionOrigin {
        target_group_arn: o
            .target_group_arn
            .as_ref()
            .map(|a| a.get_ref().clone())
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:elasticloadbalancing:local:000000000000:targetgroup/{}/edge-proxy",
                    key.trim_start_matches("origins.")
                )
            }),
        multi_value_headers: o.multi_value_headers.as_ref().is_some_and(|m| *m.get_ref()),
        timeout,
        payload,
        target,
    })
}

fn http_origin(h: &RawOrigin, key: &str, sink: &mut IssueSink) -> HttpOrigin {
    let servers = h
        .servers
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    let servers_span = h
        .servers
        .as_ref()
        .map(|s| s.span())
        .unwrap_or(h.kind.span());
    if servers.is_empty() {
        sink.at(
            Some(servers_span.clone()),
            format!("{key}.servers"),
            "at least one server is required",
        );
    }
    for s in &servers {
        let ok = s.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            sink.at(
                Some(servers_span.clone()),
                format!("{key}.servers"),
                format!("\"{s}\" is not host:port"),
            );
        }
    }
    let ms = |v: &Option<Spanned<i64>>, name: &str, default: u64, sink: &mut IssueSink| {
        v.as_ref()
            .and_then(|v| in_range(v, 1, 3_600_000, &format!("{key}.{name}"), sink))
            .map(|n| Duration::from_millis(n as u64))
            .unwrap_or(Duration::from_millis(default))
    };
    let connect_timeout = ms(&h.connect_timeout_ms, "connect-timeout-ms", 10_000, sink);
    let read_timeout = ms(&h.read_timeout_ms, "read-timeout-ms", 30_000, sink);
    let idle_timeout = ms(&h.idle_timeout_ms, "idle-timeout-ms", 5_000, sink);
    let balance = match h.balance.as_ref().map(|b| b.get_ref().as_str()) {
        None | Some("round-robin") => Balance::RoundRobin,
        Some("consistent-hash") => Balance::ConsistentHash,
        Some(other) => {
            sink.at(
                h.balance.as_ref().map(|b| b.span()),
                format!("{key}.balance"),
                format!(
                    "unknown balance \"{other}\", expected \"round-robin\" or \"consistent-hash\""
                ),
            );
            Balance::RoundRobin
        }
    };
    let health_check = h.health_check.as_ref().map(|hc| {
        let hc = hc.get_ref();
        let interval = ms(&hc.interval_ms, "health-check.interval-ms", 5_000, sink);
        let kind = match hc.kind.as_ref().map(|k| k.get_ref().as_str()) {
            None | Some("tcp") => HealthCheckKind::Tcp,
            Some("http") => HealthCheckKind::Http {
                path: hc
                    .path
                    .as_ref()
                    .map(|p| p.get_ref().clone())
                    .unwrap_or_else(|| "/".into()),
            },
            Some(other) => {
                sink.at(
                    hc.kind.as_ref().map(|k| k.span()),
                    format!("{key}.health-check.kind"),
                    format!("unknown kind \"{other}\", expected \"tcp\" or \"http\""),
                );
                HealthCheckKind::Tcp
            }
        };
        if let Some(p) = &hc.path {
            if !p.get_ref().starts_with('/') {
                sink.at(
                    Some(p.span()),
                    format!("{key}.health-check.path"),
                    "must start with '/'",
                );
            }
        }
        HealthCheck { kind, interval }
    });
    HttpOrigin {
        servers,
        tls: h.tls.as_ref().is_some_and(|t| *t.get_ref()),
        sni: h.sni.as_ref().map(|s| s.get_ref().clone()),
        verify: h.verify.as_ref().is_none_or(|v| *v.get_ref()),
        host_header: h.host_header.as_ref().map(|s| s.get_ref().clone()),
        connect_timeout,
        read_timeout,
        idle_timeout,
        balance,
        health_check,
    }
}

/// A bearer token written in the file (`<key>`) or named by environment variable
/// (`<key>-env`), at least 16 characters.
fn secret(
    token: Option<&Spanned<String>>,
    env: Option<&Spanned<String>>,
    key: &str,
    sink: &mut IssueSink,
) -> Option<String> {
    match (token, env) {
        (Some(t), Some(_)) => {
            sink.at(
                Some(t.span()),
                key,
                format!("set {key} or {key}-env, not both"),
            );
            None
        }
        (Some(t), None) if t.get_ref().len() < 16 => {
            sink.at(Some(t.span()), key, "a token needs at least 16 characters");
            None
        }
        (Some(t), None) => Some(t.get_ref().clone()),
        (None, Some(var)) => match std::env::var(var.get_ref()) {
            Ok(t) if t.len() >= 16 => Some(t),
            Ok(_) => {
                sink.at(
                    Some(var.span()),
                    format!("{key}-env"),
                    format!("${} holds fewer than 16 characters", var.get_ref()),
                );
                None
            }
            Err(_) => {
                sink.at(
                    Some(var.span()),
                    format!("{key}-env"),
                    format!("environment variable {} is not set", var.get_ref()),
                );
                None
            }
        },
        (None, None) => None,
    }
}

fn socket_addr(v: &Spanned<String>, key: &str, sink: &mut IssueSink) -> Option<SocketAddr> {
    match v.get_ref().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            sink.at(
                Some(v.span()),
                key,
                format!("\"{}\" is not an ip:port address", v.get_ref()),
            );
            None
        }
    }
}

fn existing_file(v: &Spanned<String>, base: &Path, key: &str, sink: &mut IssueSink) -> PathBuf {
    let p = base.join(v.get_ref());
    if !p.is_file() {
        sink.at(
            Some(v.span()),
            key,
            format!("file not found: {}", p.display()),
        );
    }
    p
}

fn in_range(v: &Spanned<i64>, min: i64, max: i64, key: &str, sink: &mut IssueSink) -> Option<i64> {
    let n = *v.get_ref();
    if (min..=max).contains(&n) {
        Some(n)
    } else {
        sink.at(
            Some(v.span()),
            key,
            format!("{n} is out of range {min}..={max}"),
        );
        None
    }
}
