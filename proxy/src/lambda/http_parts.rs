//! The HTTP request and response a function target sees, as every Lambda payload format shares
//! them: the parts of the viewer's request, the parts of the response read from a result, and
//! the ALB's body and query rules that API Gateway's formats follow too.

use base64::Engine as _;
use bytes::Bytes;

/// The HTTP request as the ALB received it.
#[derive(Debug, Clone)]
pub struct HttpRequestParts {
    /// Method.
    pub method: String,
    /// Path (as sent).
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Headers in arrival order (any case).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The viewer's address, for `x-forwarded-for`.
    pub client_ip: Option<String>,
    /// The listener port, for `x-forwarded-port`.
    pub port: u16,
    /// `http` or `https`.
    pub proto: &'static str,
}

/// The HTTP response built from a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponseParts {
    /// Status code.
    pub status: u16,
    /// Reason phrase from `statusDescription` (`"200 OK"` → `OK`).
    pub reason: Option<String>,
    /// Headers, one entry per header line.
    pub headers: Vec<(String, String)>,
    /// The body bytes (base64 already decoded).
    pub body: Bytes,
}

/// Whether a body without `Content-Type` is sent as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Untyped {
    /// API Gateway (no binary media types configured): the body goes as text.
    Text,
    /// The ALB: only text content types go as text; every other body is base64-encoded.
    Base64,
}

/// Whether this body is sent as text: no `Content-Encoding`, and a text content type (or none,
/// when `untyped` says so).
fn body_is_text(headers: &[(String, String)], untyped: Untyped) -> bool {
    let get = |n: &str| {
        headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    if get("content-encoding").is_some() {
        return false;
    }
    let Some(ct) = get("content-type") else {
        return untyped == Untyped::Text;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || matches!(
            ct.as_str(),
            "application/json" | "application/javascript" | "application/xml"
        )
}

/// Query pairs as sent: split on `&` and the first `=`, never percent-decoded.
pub(super) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

/// `body` and `isBase64Encoded` by the ALB's rule (`untyped` for a body without a type); a
/// text body that is not UTF-8 is refused.
pub(super) fn body_field(
    req: &HttpRequestParts,
    untyped: Untyped,
) -> Result<(String, bool), String> {
    if req.body.is_empty() {
        Ok((String::new(), false))
    } else if body_is_text(&req.headers, untyped) {
        match std::str::from_utf8(&req.body) {
            Ok(s) => Ok((s.to_string(), false)),
            Err(_) => Err("a text request body is not valid UTF-8".into()),
        }
    } else {
        Ok((
            base64::engine::general_purpose::STANDARD.encode(&req.body),
            true,
        ))
    }
}
