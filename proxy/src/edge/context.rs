//! Per-request state carried between the proxy phases.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one request has learned so far.
pub struct RequestContext {
    /// `x-edge-request-id`: sent to the origin and the viewer, and logged.
    pub request_id: String,
    /// When the request header was read.
    pub started: Instant,
    /// Index of the matched behavior in `Config::behaviors`.
    pub behavior: Option<usize>,
    /// Servers of an `http` origin already tried for this request (failover skips them).
    pub tried: Vec<SocketAddr>,
    /// When the request was sent to the origin.
    pub origin_sent: Option<Instant>,
    /// How long the origin took to answer with a header.
    pub origin_latency: Option<Duration>,
    /// Why the request failed, for the access log.
    pub error: Option<String>,
}

impl RequestContext {
    /// A fresh context with a new request id.
    pub fn new() -> Self {
        RequestContext {
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            started: Instant::now(),
            behavior: None,
            tried: Vec::new(),
            origin_sent: None,
            origin_latency: None,
            error: None,
        }
    }
}

impl Default for RequestContext {
    fn default() -> Self {
        Self::new()
    }
}
