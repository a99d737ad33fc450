//! Headers a CDN adds on the way to the origin and back: `X-Forwarded-*`, `Via`, the RFC 8586
//! `CDN-Loop` and the request id.

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use pingora::http::RequestHeader;

use super::viewer::{ip_text, Viewer};
use crate::node::NodeHeaders;

/// Name of the request id header, the same id CloudFront logs as `x-edge-request-id`.
pub const REQUEST_ID: &str = "x-edge-request-id";

/// The request id header as it is written on the wire, titled as the other lines the node adds.
pub const REQUEST_ID_KEY: &str = "X-Edge-Request-Id";

/// One line CloudFront adds to the request before origin-request: lowercase `name`, `key` as
/// CloudFront writes it (origin events show it), `value`.
#[derive(Debug, Clone)]
pub struct OriginLine {
    pub name: &'static str,
    pub key: &'static str,
    pub value: HeaderValue,
}

/// Whether `cdn_loop` (the values of every `CDN-Loop` header) already lists this node, i.e. the
/// request has looped back to us (RFC 8586 §2).
pub fn has_looped<'a>(cdn_loop: impl Iterator<Item = &'a [u8]>, node: &str) -> bool {
    cdn_loop
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|member| {
            let token = member.split(|&b| b == b';').next().unwrap_or_default();
            token.trim_ascii().eq_ignore_ascii_case(node.as_bytes())
        })
}

/// Adds the forwarding headers to the request sent to the origin; `X-Forwarded-For` and `Via`
/// too unless `facing_added` (an origin-request function saw them on the request already).
pub fn add_to_origin_request(
    req: &mut RequestHeader,
    viewer: &Viewer,
    node: &NodeHeaders,
    request_id: &str,
    facing_added: bool,
) -> pingora::Result<()> {
    if !facing_added {
        add_origin_facing(req, viewer, node)?;
    }
    req.insert_header("X-Forwarded-Proto", viewer.scheme)?;
    req.insert_header("X-Forwarded-Host", viewer.host())?;
    let cdn_loop = extend_list(&req.headers, "cdn-loop", node.cdn_loop());
    req.insert_header("CDN-Loop", cdn_loop)?;
    req.insert_header(REQUEST_ID_KEY, request_id)?;
    Ok(())
}

/// The headers CloudFront shows origin events among the request's: the viewer's address
/// appended to `X-Forwarded-For`, and this node appended to `Via`.
pub fn add_origin_facing(
    req: &mut RequestHeader,
    viewer: &Viewer,
    node: &NodeHeaders,
) -> pingora::Result<()> {
    // Named as CloudFront writes them: origin events show each line's `key`.
    if let Some(xff) = forwarded_for(req, viewer) {
        req.insert_header("X-Forwarded-For", xff)?;
    }
    req.insert_header("Via", via(req, node))?;
    Ok(())
}

/// `req`'s `X-Forwarded-For` with the viewer's address appended (none without an address).
pub fn forwarded_for(req: &RequestHeader, viewer: &Viewer) -> Option<HeaderValue> {
    let ip = ip_header(viewer.client_ip()?);
    Some(extend_list(&req.headers, "x-forwarded-for", &ip))
}

/// `req`'s `Via` with this node appended.
pub fn via(req: &RequestHeader, node: &NodeHeaders) -> HeaderValue {
    extend_list(&req.headers, "via", node.via(req.version))
}

/// `ip` as header text, without a copy of [`ip_text`]'s string.
fn ip_header(ip: IpAddr) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(ip_text(ip)))
        .expect("an IP address is a header value")
}

/// The comma-separated list header `name` of `headers` with `value` appended, keeping earlier
/// hops' values; `value` itself (no copy) when there were none.
pub fn extend_list(headers: &HeaderMap, name: &str, value: &HeaderValue) -> HeaderValue {
    let mut prior = headers.get_all(name).iter().filter(|v| !v.is_empty());
    let Some(first) = prior.next() else {
        return value.clone();
    };
    let mut joined = BytesMut::from(first.as_bytes());
    for v in prior.chain(std::iter::once(value)) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(v.as_bytes());
    }
    HeaderValue::from_maybe_shared(joined.freeze()).expect("joined header values stay valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_is_detected_by_token_ignoring_parameters_and_other_cdns() {
        let node = "edge-proxy";
        assert!(has_looped(
            [b"other, edge-proxy; v=1".as_slice()].into_iter(),
            node
        ));
        assert!(!has_looped(
            [b"other, edge-proxy-2".as_slice()].into_iter(),
            node
        ));
        assert!(!has_looped(std::iter::empty(), node));
    }

    #[test]
    fn forwarding_headers_extend_earlier_hops() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("x-forwarded-for", "10.0.0.1").unwrap();
        req.insert_header("cdn-loop", "upstream-cdn").unwrap();
        let viewer = Viewer::new(
            Some("192.0.2.7".parse().unwrap()),
            "https",
            HeaderValue::from_static("example.com"),
        );
        add_to_origin_request(
            &mut req,
            &viewer,
            &NodeHeaders::new("edge-proxy"),
            "abc",
            false,
        )
        .unwrap();
        let h = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(h("x-forwarded-for"), "10.0.0.1, 192.0.2.7");
        assert_eq!(h("x-forwarded-proto"), "https");
        assert_eq!(h("x-forwarded-host"), "example.com");
        assert_eq!(h("cdn-loop"), "upstream-cdn, edge-proxy");
        assert_eq!(h("via"), "1.1 edge-proxy");
        assert_eq!(h(REQUEST_ID), "abc");
    }

    #[test]
    fn list_headers_join_every_earlier_line_and_skip_empty_ones() {
        let mut headers = HeaderMap::new();
        let ours = HeaderValue::from_static("1.1 edge-proxy");
        assert_eq!(extend_list(&headers, "via", &ours), ours);
        headers.append("via", HeaderValue::from_static(""));
        assert_eq!(extend_list(&headers, "via", &ours), ours);
        headers.append("via", HeaderValue::from_static("1.1 a"));
        headers.append("via", HeaderValue::from_static("2 b"));
        assert_eq!(
            extend_list(&headers, "via", &ours),
            "1.1 a, 2 b, 1.1 edge-proxy"
        );
    }

    #[test]
    fn via_names_the_request_version() {
        let node = NodeHeaders::new("pop-1");
        assert_eq!(node.via(http::Version::HTTP_10), "1.0 pop-1");
        assert_eq!(node.via(http::Version::HTTP_11), "1.1 pop-1");
        assert_eq!(node.via(http::Version::HTTP_2), "2 pop-1");
    }

    #[test]
    fn an_address_header_is_its_text() {
        for ip in ["192.0.2.7", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_header(ip), ip.to_string().as_str());
        }
    }
}
