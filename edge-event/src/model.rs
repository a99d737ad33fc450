//! The Lambda@Edge event (`Records[0].cf`) as edge-proxy models it: what a hook sees and what
//! it returns. Its AWS JSON form is in [`crate::aws_json`].

use std::fmt;
use std::sync::Arc;

use crate::headers::HeaderList;

/// The four trigger points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Every viewer request, before the cache.
    ViewerRequest,
    /// Requests going to the origin (cache misses).
    OriginRequest,
    /// The origin's response, before it is cached.
    OriginResponse,
    /// Every response to the viewer.
    ViewerResponse,
}

impl EventType {
    /// All four, in pipeline order.
    pub const ALL: [EventType; 4] = [
        EventType::ViewerRequest,
        EventType::OriginRequest,
        EventType::OriginResponse,
        EventType::ViewerResponse,
    ];

    /// The name CloudFront uses (`viewer-request`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ViewerRequest => "viewer-request",
            EventType::OriginRequest => "origin-request",
            EventType::OriginResponse => "origin-response",
            EventType::ViewerResponse => "viewer-response",
        }
    }

    /// Parses a CloudFront event type name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Viewer triggers have the tighter limits (40 KB, 5 s).
    pub fn is_viewer(self) -> bool {
        matches!(self, EventType::ViewerRequest | EventType::ViewerResponse)
    }

    /// Request triggers may return a request or generate a response.
    pub fn is_request(self) -> bool {
        matches!(self, EventType::ViewerRequest | EventType::OriginRequest)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Records[0].cf.config`. Its text is shared, not owned: every event of a node carries the
/// same names and every event of a request the same id, so building one is reference counts,
/// not copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfConfig {
    /// Domain name viewers use.
    pub distribution_domain_name: Arc<str>,
    /// Distribution id.
    pub distribution_id: Arc<str>,
    /// Which trigger this is.
    pub event_type: EventType,
    /// The request id (`x-edge-request-id`).
    pub request_id: Arc<str>,
}

/// `request.body` with include-body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfBody {
    /// The body was cut at the trigger's limit.
    pub input_truncated: bool,
    /// Whether a hook's changes replace the body.
    pub action: BodyAction,
    /// Encoding of `data`.
    pub encoding: BodyEncoding,
    /// The body.
    pub data: String,
}

/// `body.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyAction {
    /// Changes are ignored (the default).
    ReadOnly,
    /// The body sent on is replaced.
    Replace,
}

/// `body.encoding` / `bodyEncoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// Base64 (always, for bodies CloudFront exposes).
    Base64,
    /// Plain text.
    Text,
}

/// `request.origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfOrigin {
    /// An origin configured in edge-proxy, by name (edge-proxy's addition).
    Named(String),
    /// A custom origin by domain, port and protocol (`origin.custom`).
    Custom(CustomOrigin),
    /// An S3 bucket (`origin.s3`), reached over HTTPS on its domain.
    S3(S3Origin),
}

/// `origin.s3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Origin {
    /// `origin-access-identity` or `none`.
    pub auth_method: String,
    /// Headers added for this origin.
    pub custom_headers: HeaderList,
    /// The bucket's host name.
    pub domain_name: String,
    /// Prefix for the uri (`""` or starting with `/`).
    pub path: String,
    /// The bucket's region (required with `origin-access-identity`).
    pub region: String,
}

impl S3Origin {
    /// The HTTPS origin requests to the bucket go to (port 443, CloudFront's default timeouts).
    pub fn as_custom(&self) -> CustomOrigin {
        CustomOrigin {
            domain_name: self.domain_name.clone(),
            port: 443,
            protocol: "https".into(),
            path: self.path.clone(),
            read_timeout: 30,
            keepalive_timeout: 5,
            custom_headers: self.custom_headers.clone(),
            ssl_protocols: vec!["TLSv1.2".into()],
        }
    }
}

/// `origin.custom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOrigin {
    /// Host name.
    pub domain_name: String,
    /// Port.
    pub port: u16,
    /// `http` or `https`.
    pub protocol: String,
    /// Prefix for the uri (`""` or starting with `/`).
    pub path: String,
    /// Seconds.
    pub read_timeout: u32,
    /// Seconds.
    pub keepalive_timeout: u32,
    /// Headers added for this origin.
    pub custom_headers: HeaderList,
    /// `TLSv1.2`, `TLSv1.1`, `TLSv1`, `SSLv3`: what the origin may be spoken to with.
    pub ssl_protocols: Vec<String>,
}

/// `Records[0].cf.request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfRequest {
    /// Viewer IP.
    pub client_ip: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub uri: String,
    /// Raw query string without `?`.
    pub querystring: String,
    /// Headers.
    pub headers: HeaderList,
    /// Body, with include-body.
    pub body: Option<CfBody>,
    /// Origin, in origin events.
    pub origin: Option<CfOrigin>,
}

/// `Records[0].cf.response`, or a generated / updated response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub status_description: String,
    /// Headers.
    pub headers: HeaderList,
    /// A body set by the hook (never the origin's: CloudFront does not expose it).
    pub body: Option<String>,
    /// Encoding of `body`.
    pub body_encoding: BodyEncoding,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfEvent {
    /// Config.
    pub config: CfConfig,
    /// Request.
    pub request: CfRequest,
    /// Response (response events).
    pub response: Option<CfResponse>,
}

/// What a hook returned.
#[derive(Debug, Clone, PartialEq, Eq)]
// A request (with its origin) is larger than a response, but an outcome is made and moved once
// per invocation: boxing it would add an allocation to every hook call to save stack bytes.
#[allow(clippy::large_enum_variant)]
pub enum HookOutcome {
    /// Continue with this request.
    Request(CfRequest),
    /// Answer with (or continue with) this response.
    Response(CfResponse),
}
