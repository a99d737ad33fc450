//! What the pipeline knows about the viewer — address, scheme, the host asked for — worked out
//! once per request in `request_filter` and read from the context by every later step (routing,
//! hook events, forwarding headers, function targets, the access log).

use std::net::IpAddr;

use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// The viewer of one request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The viewer's IP address (none on a Unix socket).
    client_ip: Option<IpAddr>,
    /// `https` when the viewer connected over TLS, else `http`.
    pub scheme: &'static str,
    /// `Host`, or the authority of an HTTP/2 request, as sent (a shared copy of the header's
    /// bytes, not a new string).
    host: HeaderValue,
    /// How many of `host`'s bytes are the host without its port: found once, where every
    /// reader (routing, the cache key, `X-Forwarded-Host`, the logs) took it apart again.
    /// 0 when `host` is not visible ASCII.
    host_len: usize,
}

impl Default for Viewer {
    /// Nothing known yet (before `request_filter`, or for a request refused before it).
    fn default() -> Self {
        Viewer::new(None, "http", HeaderValue::from_static(""))
    }
}

impl Viewer {
    /// The viewer of `session`'s request.
    pub fn of(session: &Session) -> Self {
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let scheme = if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
            "https"
        } else {
            "http"
        };
        Viewer::new(client_ip, scheme, host_value(session.req_header()))
    }

    /// A viewer at `client_ip` over `scheme` asking for `host` (as the `Host` header carries it).
    pub fn new(client_ip: Option<IpAddr>, scheme: &'static str, host: HeaderValue) -> Self {
        let host_len = match host.to_str() {
            Ok(text) => crate::host::without_port(text.as_bytes()).len(),
            Err(_) => 0,
        };
        Viewer {
            client_ip,
            scheme,
            host,
            host_len,
        }
    }

    /// The host the request is for, without a port.
    pub fn host(&self) -> &str {
        std::str::from_utf8(&self.host.as_bytes()[..self.host_len]).unwrap_or("")
    }

    /// The viewer's IP address (none on a Unix socket).
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }
}

/// `ip` as text, as `Display` writes it. IPv4 (most viewers) is written octet by octet:
/// `Display` goes through the formatting machinery, ~1.5K instructions of the ~120K a forwarded
/// request costs.
pub fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
    text
}

fn host_value(req: &RequestHeader) -> HeaderValue {
    if let Some(host) = req.headers.get(http::header::HOST) {
        return host.clone();
    }
    req.uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "192.0.2.7",
            "255.255.255.255",
            "10.20.0.100",
            "2001:db8::1",
            "::ffff:192.0.2.7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn a_viewers_host_is_its_host_header_without_the_port() {
        let host = |value: &'static [u8]| {
            let value = HeaderValue::from_bytes(value).unwrap();
            Viewer::new(None, "http", value).host().to_string()
        };
        assert_eq!(host(b"example.com:8080"), "example.com");
        assert_eq!(host(b"example.com"), "example.com");
        assert_eq!(host(b"[2001:db8::1]:443"), "[2001:db8::1]");
        assert_eq!(host(b"example.com:"), "example.com");
        assert_eq!(host(b""), "");
        // Not visible ASCII: no host, as before it was taken apart once.
        assert_eq!(host(b"caf\xc3\xa9.example"), "");
        assert_eq!(Viewer::default().host(), "");
    }
}
