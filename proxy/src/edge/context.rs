//! Per-request state carried between the proxy phases.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::http::RequestHeader;

use super::forwarding::OriginLine;
use super::held_body::HeldBody;
use super::viewer::Viewer;
use crate::cache::PurgeEpoch;
use crate::node::Generation;
use crate::origins::{ConfiguredOrigin, OriginHandle, OriginId};
use edge_event::CustomOrigin;

/// What one request has learned so far.
pub struct RequestContext {
    /// The configuration generation the request started on; it keeps it to the end.
    pub generation: Arc<Generation>,
    /// `x-edge-request-id`: sent to the origin and the viewer, and logged; shared with every
    /// hook event of the request.
    pub request_id: Arc<str>,
    /// When the request header was read.
    pub started: Instant,
    /// The viewer's address, scheme and host, worked out once in `request_filter`.
    pub viewer: Viewer,
    /// Index of the matched behavior in `Config::behaviors`.
    pub behavior: Option<usize>,
    /// The origin the request goes to: the behavior's, or one an origin-request hook chose;
    /// resolved when the behavior matched.
    pub origin: Option<OriginId>,
    /// A custom origin an origin-request hook chose instead of a configured one.
    pub custom_origin: Option<CustomOrigin>,
    /// The origin whose headers (`X-Forwarded-For`, `Via`, its `Host`) were put on the
    /// session's request when an origin-request function changed it (until then they are only
    /// shown over it); the copy sent upstream then gets them only if the function chose
    /// another origin (`Host`).
    pub origin_facing_for: Option<OriginId>,
    /// The viewer's request as viewer-response shows it, kept when an origin-request function
    /// changed the session's.
    pub viewer_request: Option<Box<RequestHeader>>,
    /// The origin's headers as the first origin event showed them over the session's request
    /// (`origin_view::AsSent`): shown again by the next while they are not put on it, and put
    /// on the copy sent upstream instead of being made again.
    pub origin_lines: Option<Arc<[OriginLine]>>,
    /// Servers of an `http` origin already tried for this request (failover skips them).
    pub tried: Vec<SocketAddr>,
    /// When the request was sent to the origin.
    pub origin_sent: Option<Instant>,
    /// How long the origin took to answer with a header.
    pub origin_latency: Option<Duration>,
    /// The start of the request body, when an include-body association read it.
    pub body_read: Option<HeldBody>,
    /// A request body a hook replaced the original with.
    pub request_body_swap: Option<BodySwap>,
    /// A response body origin-response replaced the origin's with.
    pub origin_body_swap: Option<BodySwap>,
    /// A response body viewer-response replaced with.
    pub viewer_body_swap: Option<BodySwap>,
    /// Why the request failed, for the access log.
    pub error: Option<String>,
    /// The viewer's path and query, kept when a hook rewrote the request's (access log).
    pub viewer_path: Option<Box<str>>,
    /// The response comes from the local-origin server (cacheable behaviors only).
    pub local: Option<LocalRoute>,
    /// The cache's purge count when this request's origin fetch began (cache misses only).
    pub purge_epoch: Option<PurgeEpoch>,
}

/// What the local-origin server is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalRoute {
    /// The `files` origin the request is routed to.
    Files,
    /// The response origin-request generated, held under the request id.
    Generated,
}

impl RequestContext {
    /// The configured origin the request goes to, once its behavior matched.
    pub fn configured_origin(&self) -> Option<&ConfiguredOrigin> {
        self.origin.map(|id| self.generation.origins.get(id))
    }

    /// What serves the request's configured origin, once its behavior matched.
    pub fn origin_handle(&self) -> Option<&OriginHandle> {
        self.configured_origin().map(|o| &o.handle)
    }

    /// The configured origin's name as logs and metrics label it; empty before a behavior
    /// matched.
    pub fn origin_name(&self) -> &str {
        self.configured_origin().map_or("", |o| o.name.as_str())
    }

    /// A fresh context with a new request id, on `generation`.
    pub fn new(generation: Arc<Generation>) -> Self {
        RequestContext {
            generation,
            // A random (v4) UUID from a per-thread generator: request ids need uniqueness, not
            // secrecy, and the OS generator costs a system call per request. Encoded into a
            // stack buffer: `to_string` would go through the formatting machinery.
            request_id: uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
                .into_uuid()
                .simple()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .into(),
            started: Instant::now(),
            viewer: Viewer::default(),
            behavior: None,
            origin: None,
            custom_origin: None,
            tried: Vec::new(),
            origin_sent: None,
            origin_latency: None,
            body_read: None,
            origin_facing_for: None,
            viewer_request: None,
            origin_lines: None,
            request_body_swap: None,
            origin_body_swap: None,
            viewer_body_swap: None,
            error: None,
            viewer_path: None,
            local: None,
            purge_epoch: None,
        }
    }
}

/// A streamed body being replaced: the first chunk that passes becomes the new body, every
/// later chunk is dropped.
pub struct BodySwap {
    pending: Option<Bytes>,
}

impl BodySwap {
    /// Replaces the stream with `body`.
    pub fn new(body: Bytes) -> Self {
        BodySwap {
            pending: Some(body),
        }
    }

    /// The new body's length.
    pub fn len(&self) -> Option<usize> {
        self.pending.as_ref().map(Bytes::len)
    }

    /// Applies the swap to one chunk of the stream.
    pub fn apply(&mut self, chunk: &mut Option<Bytes>) {
        *chunk = self.pending.take();
    }
}
