//! Headers a CDN adds on the way to the origin and back: `X-Forwarded-*`, `Via`, the RFC 8586
//! `CDN-Loop` and the request id.

use pingora::http::RequestHeader;

/// Name of the request id header, the same id CloudFront logs as `x-edge-request-id`.
pub const REQUEST_ID: &str = "x-edge-request-id";

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

/// What the forwarding headers say about the viewer.
pub struct Viewer<'a> {
    /// The viewer's IP address.
    pub client_ip: Option<String>,
    /// `http` or `https`.
    pub proto: &'static str,
    /// The `Host` the viewer asked for.
    pub host: &'a str,
}

/// Adds the forwarding headers to the request sent to the origin.
pub fn add_to_origin_request(
    req: &mut RequestHeader,
    viewer: &Viewer,
    node: &str,
    request_id: &str,
) -> pingora::Result<()> {
    if let Some(ip) = &viewer.client_ip {
        let xff = match req
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) if !prior.is_empty() => format!("{prior}, {ip}"),
            _ => ip.clone(),
        };
        req.insert_header("x-forwarded-for", xff)?;
    }
    req.insert_header("x-forwarded-proto", viewer.proto)?;
    req.insert_header("x-forwarded-host", viewer.host)?;
    append_list(req, "via", &format!("{} {node}", http_version(req)))?;
    append_list(req, "cdn-loop", node)?;
    req.insert_header(REQUEST_ID, request_id)?;
    Ok(())
}

/// Appends `value` to a comma-separated list header, keeping earlier hops' values.
fn append_list(req: &mut RequestHeader, name: &'static str, value: &str) -> pingora::Result<()> {
    let joined = req
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .chain(std::iter::once(value))
        .collect::<Vec<_>>()
        .join(", ");
    req.insert_header(name, joined)
}

/// The `Via` protocol version of a request (RFC 9110 §7.6.3).
pub fn http_version(req: &RequestHeader) -> &'static str {
    match req.version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
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
        let viewer = Viewer {
            client_ip: Some("192.0.2.7".into()),
            proto: "https",
            host: "example.com",
        };
        add_to_origin_request(&mut req, &viewer, "edge-proxy", "abc").unwrap();
        let h = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(h("x-forwarded-for"), "10.0.0.1, 192.0.2.7");
        assert_eq!(h("x-forwarded-proto"), "https");
        assert_eq!(h("x-forwarded-host"), "example.com");
        assert_eq!(h("cdn-loop"), "upstream-cdn, edge-proxy");
        assert_eq!(h("via"), "1.1 edge-proxy");
        assert_eq!(h(REQUEST_ID), "abc");
    }
}
