//! One JSON line per request on stdout, the shape log shippers expect.

use std::io::Write;

use serde::Serialize;

/// The fields of one access-log line.
#[derive(Debug, Serialize)]
pub struct AccessLogLine<'a> {
    /// RFC 3339 time the request finished.
    pub time: String,
    /// The `x-edge-request-id` sent to the origin and the viewer.
    pub request_id: &'a str,
    /// Viewer address.
    pub client: String,
    /// HTTP method.
    pub method: &'a str,
    /// Host the viewer asked for.
    pub host: &'a str,
    /// Path and query as the viewer asked (normalized), whatever a hook rewrote.
    pub path: &'a str,
    /// Status sent to the viewer.
    pub status: u16,
    /// Response body bytes sent to the viewer.
    pub bytes: usize,
    /// Total time, milliseconds.
    pub duration_ms: f64,
    /// Time waiting for the origin's response header, milliseconds (absent when none was asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_ms: Option<f64>,
    /// Behavior (path pattern) that matched.
    pub behavior: &'a str,
    /// Origin name.
    pub origin: &'a str,
    /// Path and query the origin was asked for (absent when no origin was asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_path: Option<&'a str>,
    /// Why the request failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AccessLogLine<'_> {
    /// Writes the line to stdout in one `write` so lines from concurrent requests never interleave.
    pub fn emit(&self) {
        let mut line = serde_json::to_vec(self).expect("access log fields serialize");
        line.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&line);
    }
}
