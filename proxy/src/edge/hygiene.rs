//! What a request must pass before anything routes on it. Conflicting `Content-Length` values
//! and malformed headers are already refused by Pingora's parser with 400; framing Pingora
//! accepts but should not (checked on the raw header block), `Host` (`host.rs`), the node's own header
//! namespace and the path are screened here, and a request that looped back to this node
//! (`CDN-Loop`) is refused.

use http::StatusCode;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestContext;
use super::head_size::{HeadLimits, HeadSizes};
use super::{forwarding, respond};

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
    limits: &HeadLimits,
) -> Option<Rejection> {
    if let Some((status, reason)) = limits.check(HeadSizes::measure(req, raw_h1)) {
        return Some(Rejection {
            status,
            reason,
            close: true,
        });
    }
    let names = match raw_h1 {
        Some(raw) => HeaderNames::of_raw(raw),
        None => HeaderNames::of_map(req),
    };
    // RFC 9112 §6.1 lets a server reject this outright; accepting it is how requests get smuggled.
    if names.content_length && names.transfer_encoding {
        return Some(Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: "both Content-Length and Transfer-Encoding",
            close: true,
        });
    }
    // RFC 9112 §6.3: a Content-Length that is not one decimal number is invalid framing. Pingora
    // refuses differing values but takes a list of equal ones (`3, 3`) and forwards it as sent,
    // which an origin may read otherwise: refused here, as nginx refuses it.
    if names.content_length && !single_decimal(req.headers.get_all(http::header::CONTENT_LENGTH)) {
        return Some(Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: "Content-Length is not one decimal number",
            close: true,
        });
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without a `Host`, or with more than one, gets 400.
    // (HTTP/1.0 requests may omit it; HTTP/2 carries `:authority`.)
    let bad_host = match req.version {
        http::Version::HTTP_11 => names.hosts != 1,
        _ => names.hosts > 1,
    };
    if bad_host {
        return Some(Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: "an HTTP/1.1 request needs exactly one Host header",
            close: false,
        });
    }
    // RFC 9112 §3.2 again: a `Host` (or HTTP/2 `:authority`) that is no host gets 400 too.
    let host_valid = req
        .headers
        .get(http::header::HOST)
        .is_none_or(|h| crate::host::is_valid(h.as_bytes()))
        && req
            .uri
            .authority()
            .is_none_or(|a| crate::host::is_valid(a.as_str().as_bytes()));
    if !host_valid {
        return Some(Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: "the Host header is not a valid host",
            close: false,
        });
    }
    if names.internal {
        drop_internal_headers(req);
    }
    super::path::normalize_request(req)
        .err()
        .map(|e| Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: e.reason(),
            close: false,
        })
}

/// Whether `values` is one line holding only digits (around optional whitespace).
fn single_decimal(values: http::header::GetAll<'_, http::HeaderValue>) -> bool {
    let mut values = values.iter();
    let digits = |v: &http::HeaderValue| {
        let v = v.as_bytes().trim_ascii();
        !v.is_empty() && v.iter().all(u8::is_ascii_digit)
    };
    values.next().is_some_and(digits) && values.next().is_none()
}

/// What the screen needs to know about a request's header names, found in one pass.
#[derive(Debug, Default, PartialEq, Eq)]
struct HeaderNames {
    content_length: bool,
    transfer_encoding: bool,
    hosts: usize,
    /// Some name is in the node's `x-edge-*` namespace.
    internal: bool,
}

impl HeaderNames {
    /// From the raw HTTP/1 header block (request line to the blank line), which shows what
    /// Pingora's parsed map hides (it drops `Content-Length` beside `Transfer-Encoding`).
    fn of_raw(raw: &[u8]) -> Self {
        let mut names = HeaderNames::default();
        for line in raw.split(|&b| b == b'\n').skip(1) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            names.note(name);
        }
        names
    }

    /// From the parsed map (HTTP/2).
    fn of_map(req: &RequestHeader) -> Self {
        let mut names = HeaderNames::default();
        for (name, _) in req.headers.iter() {
            names.note(name.as_str().as_bytes());
        }
        names
    }

    fn note(&mut self, name: &[u8]) {
        self.content_length |= name.eq_ignore_ascii_case(b"content-length");
        self.transfer_encoding |= name.eq_ignore_ascii_case(b"transfer-encoding");
        self.hosts += usize::from(name.eq_ignore_ascii_case(b"host"));
        self.internal |= name.len() >= INTERNAL_PREFIX.len()
            && name[..INTERNAL_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_PREFIX.as_bytes());
    }
}

/// Headers in the node's own namespace (`x-edge-*`: the request id, the local-origin hop's
/// selectors) mean something only when the node writes them, so a viewer's are dropped before
/// anything reads the request.
fn drop_internal_headers(req: &mut RequestHeader) {
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|n| n.as_str().starts_with(INTERNAL_PREFIX))
        .cloned()
        .collect();
    for name in names {
        req.remove_header(&name);
    }
}

/// The node's header namespace.
const INTERNAL_PREFIX: &str = "x-edge-";

/// Refuses what the request's head alone shows to be bad: broken framing, a missing or doubled
/// `Host`, oversized headers (`hygiene.rs`), and a request that looped back to this node
/// (`CDN-Loop`). Returns `true` when a refusal was sent.
pub async fn refuse_malformed(session: &mut Session, ctx: &mut RequestContext) -> Result<bool> {
    let raw = (!session.is_http2()).then(|| session.as_downstream().to_h1_raw());
    let limits = HeadLimits::node(&ctx.generation.config.limits);
    if let Some(rejection) = screen(session.req_header_mut(), raw.as_deref(), &limits) {
        ctx.error = Some(rejection.reason.into());
        respond::text(
            session,
            rejection.status,
            rejection.reason,
            &ctx.request_id,
            rejection.close,
        )
        .await?;
        return Ok(true);
    }
    let req = session.req_header();
    if forwarding::has_looped(
        req.headers.get_all("cdn-loop").iter().map(|v| v.as_bytes()),
        &ctx.generation.config.node.name,
    ) {
        ctx.error = Some("request loop detected by CDN-Loop".into());
        respond::text(
            session,
            StatusCode::LOOP_DETECTED,
            "request loop detected",
            &ctx.request_id,
            false,
        )
        .await?;
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request `raw` spells, as Pingora would have parsed it, and the raw block.
    fn request(raw: &[u8]) -> (RequestHeader, Vec<u8>) {
        let text = std::str::from_utf8(raw).unwrap();
        let mut lines = text.split("\r\n");
        let mut start = lines.next().unwrap().split(' ');
        let (method, path, version) = (
            start.next().unwrap(),
            start.next().unwrap(),
            start.next().unwrap(),
        );
        let mut req = RequestHeader::build(method, path.as_bytes(), None).unwrap();
        if version == "HTTP/1.0" {
            req.set_version(http::Version::HTTP_10);
        }
        for line in lines.take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            req.append_header(name.to_string(), value.trim()).unwrap();
        }
        (req, raw.to_vec())
    }

    fn node_limits() -> HeadLimits {
        HeadLimits::node(&crate::config::Limits::default())
    }

    fn screened(raw: &[u8]) -> Option<Rejection> {
        let (mut req, raw) = request(raw);
        screen(&mut req, Some(&raw), &node_limits())
    }

    #[test]
    fn content_length_with_transfer_encoding_is_rejected() {
        let r = screened(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.close);
    }

    #[test]
    fn oversized_header_block_is_431_and_normal_one_passes() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(screened(raw), None);
        let (mut req, raw) = request(raw);
        let small = HeadLimits {
            total: 10,
            ..node_limits()
        };
        assert_eq!(
            screen(&mut req, Some(&raw), &small).unwrap().status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn http11_needs_exactly_one_host() {
        assert!(screened(b"GET / HTTP/1.1\r\n\r\n").is_some());
        assert!(screened(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").is_none());
        assert!(screened(b"GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n").is_some());
        assert!(screened(b"GET / HTTP/1.0\r\n\r\n").is_none());
        assert!(screened(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").is_some());
    }

    #[test]
    fn a_content_length_that_is_not_one_number_is_400_and_closes() {
        for cl in ["3, 3", "3,3", "0x3", "+3", "3 3", ""] {
            let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\n");
            assert_eq!(
                screened(raw.as_bytes()).map(|r| (r.status, r.reason, r.close)),
                Some((
                    StatusCode::BAD_REQUEST,
                    "Content-Length is not one decimal number",
                    true
                )),
                "{cl:?}"
            );
        }
        assert!(screened(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\n").is_none());
    }

    #[test]
    fn a_host_that_is_no_host_is_400() {
        let refused = |raw: &[u8]| screened(raw).map(|r| (r.status, r.reason));
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: [::1\r\n\r\n",
        ] {
            assert_eq!(
                refused(raw),
                Some((
                    StatusCode::BAD_REQUEST,
                    "the Host header is not a valid host"
                )),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(screened(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").is_none());
    }

    #[test]
    fn internal_headers_are_dropped_in_every_case() {
        let (mut req, raw) = request(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Edge-Local-Response: x\r\nx-edge-local-origin: site\r\nX-EDGE-REQUEST-ID: forged\r\nx-edged: kept\r\n\r\n",
        );
        assert_eq!(screen(&mut req, Some(&raw), &node_limits()), None);
        let names: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "x-edged"]);
        // The same from the parsed map (HTTP/2).
        let (mut req, _) = request(b"GET / HTTP/1.1\r\nHost: a\r\nX-Edge-Local-Origin: x\r\n\r\n");
        assert_eq!(screen(&mut req, None, &node_limits()), None);
        assert!(!req.headers.contains_key("x-edge-local-origin"));
    }

    #[test]
    fn unsafe_paths_are_refused_and_others_normalized() {
        let (mut req, raw) = request(b"GET /a/%2e%2e/%70rivate/?q=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(screen(&mut req, Some(&raw), &node_limits()), None);
        assert_eq!(req.uri.to_string(), "/private/?q=1");
        let r = screened(b"GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!((r.status, r.close), (StatusCode::BAD_REQUEST, false));
    }
}
