//! What a request must pass before anything routes on it. Conflicting `Content-Length` values
//! and malformed headers are already refused by Pingora's parser with 400; framing Pingora
//! accepts but should not (checked on the raw header block), `Host`, the node's own header
//! namespace and the path are screened here.

use http::StatusCode;
use pingora::http::RequestHeader;

/// Why a request is refused before routing.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Status sent to the viewer.
    pub status: StatusCode,
    /// Short reason for the body and the log.
    pub reason: &'static str,
    /// Whether the connection is closed afterwards (its framing cannot be trusted).
    pub close: bool,
}

/// Screens a request before anything routes on it: framing (HTTP/1), `Host`, the node's own
/// header namespace, and the path (normalized in place, or refused).
pub fn screen(
    req: &mut RequestHeader,
    raw_h1: Option<&[u8]>,
    max_header_bytes: usize,
) -> Option<Rejection> {
    if let Some(rejection) = raw_h1.and_then(|raw| check_raw_header(raw, max_header_bytes)) {
        return Some(rejection);
    }
    if let Some(rejection) = check_host(req) {
        return Some(rejection);
    }
    drop_internal_headers(req);
    super::path::normalize_request(req)
        .err()
        .map(|e| Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: e.reason(),
            close: false,
        })
}

/// Checks the raw HTTP/1 request header block (request line to the blank line).
fn check_raw_header(raw: &[u8], max_header_bytes: usize) -> Option<Rejection> {
    if raw.len() > max_header_bytes {
        return Some(Rejection {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            reason: "request header block too large",
            close: true,
        });
    }
    let (mut content_length, mut transfer_encoding) = (false, false);
    for line in raw.split(|&b| b == b'\n').skip(1) {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        content_length |= name.eq_ignore_ascii_case(b"content-length");
        transfer_encoding |= name.eq_ignore_ascii_case(b"transfer-encoding");
    }
    // RFC 9112 §6.1 lets a server reject this outright; accepting it is how requests get smuggled.
    if content_length && transfer_encoding {
        return Some(Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: "both Content-Length and Transfer-Encoding",
            close: true,
        });
    }
    None
}

/// RFC 9112 §3.2: an HTTP/1.1 request without a `Host`, or with more than one, gets 400.
/// (HTTP/1.0 requests may omit it; HTTP/2 carries `:authority`.)
fn check_host(req: &RequestHeader) -> Option<Rejection> {
    let hosts = req.headers.get_all(http::header::HOST).iter().count();
    let refused = match req.version {
        http::Version::HTTP_11 => hosts != 1,
        _ => hosts > 1,
    };
    refused.then_some(Rejection {
        status: StatusCode::BAD_REQUEST,
        reason: "an HTTP/1.1 request needs exactly one Host header",
        close: false,
    })
}

/// Headers in the node's own namespace (`x-edge-*`: the request id, the local-origin hop's
/// selectors) mean something only when the node writes them, so a viewer's are dropped before
/// anything reads the request.
fn drop_internal_headers(req: &mut RequestHeader) {
    // Almost no request carries one: look before collecting names to remove.
    let is_internal = |n: &http::HeaderName| n.as_str().starts_with(INTERNAL_PREFIX);
    if !req.headers.keys().any(is_internal) {
        return;
    }
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|n| is_internal(n))
        .cloned()
        .collect();
    for name in names {
        req.remove_header(&name);
    }
}

/// The node's header namespace.
const INTERNAL_PREFIX: &str = "x-edge-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_with_transfer_encoding_is_rejected() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            check_raw_header(raw, 32768).unwrap().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn oversized_header_block_is_431_and_normal_one_passes() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(check_raw_header(raw, 32768), None);
        assert_eq!(
            check_raw_header(raw, 10).unwrap().status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn http11_needs_exactly_one_host() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        assert!(check_host(&req).is_some());
        req.append_header("host", "a").unwrap();
        assert!(check_host(&req).is_none());
        req.append_header("host", "b").unwrap();
        assert!(check_host(&req).is_some());
        let mut old = RequestHeader::build("GET", b"/", None).unwrap();
        old.set_version(http::Version::HTTP_10);
        assert!(check_host(&old).is_none());
    }

    #[test]
    fn internal_headers_are_dropped_in_every_case() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("X-Edge-Local-Response", "x").unwrap();
        req.append_header("x-edge-local-origin", "site").unwrap();
        req.append_header("X-EDGE-REQUEST-ID", "forged").unwrap();
        req.append_header("x-edged", "kept").unwrap();
        drop_internal_headers(&mut req);
        let names: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-edged"]);
    }
}
