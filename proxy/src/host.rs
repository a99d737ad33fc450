//! A host as HTTP spells it: `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2), for the
//! `Host` a viewer sends and the servers and `Host` a configuration names.
//!
//! A viewer's host picks the behavior, goes into the cache key, the hooks' event, `X-Forwarded-Host`
//! and the origin request, so a value that is no host (`a/b`, `a b`, `a:b`, `[::1`, `x@y`, an
//! empty one) is refused with 400 before anything reads it, as RFC 9112 asks of a server and as
//! nginx refuses an "invalid host header". Stricter than nginx, which takes any byte above a
//! space but `/`: what passes here is plain ASCII a DNS name, an IPv4 address or a bracketed
//! IPv6 address can be spelled with.

use std::net::Ipv6Addr;

/// Whether `value` is a valid `Host` field value: a non-empty reg-name (RFC 3986's unreserved
/// characters and sub-delims, without empty labels; one trailing dot allowed) or a bracketed
/// IPv6 address, then optionally `:` and a port of at most 65535. RFC 3986 also lets a reg-name
/// hold `%HH`; no DNS name does, and the `http` crate (so Pingora's HTTP/2) refuses it, so it is
/// refused here as well.
pub fn is_valid(value: &[u8]) -> bool {
    let Some((host, port)) = split(value) else {
        return false;
    };
    let host_ok = if host.first() == Some(&b'[') {
        ipv6_literal(&host[1..host.len() - 1])
    } else {
        reg_name(host)
    };
    host_ok && port_ok(port)
}

/// `value` without its port: `example.com:8080` → `example.com`; an IPv6 literal keeps its
/// brackets; a colon followed by something other than digits is no port. For a valid host
/// (the only kind past the viewer's screen) the host it names.
pub fn without_port(value: &[u8]) -> &[u8] {
    match split(value) {
        Some((host, port)) if port.iter().skip(1).all(u8::is_ascii_digit) => host,
        _ => value,
    }
}

/// `value` as its host and what follows (`:` and the port, or nothing); `None` for a bracket
/// never closed.
fn split(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = match value.first() {
        Some(b'[') => value.iter().position(|&b| b == b']')? + 1,
        _ => value.iter().position(|&b| b == b':').unwrap_or(value.len()),
    };
    Some(value.split_at(at))
}

/// `:` and a decimal port (empty allowed, as RFC 3986's `*DIGIT`), or nothing.
fn port_ok(port: &[u8]) -> bool {
    let Some(digits) = port.strip_prefix(b":") else {
        return port.is_empty();
    };
    digits.len() <= 5
        && digits.iter().all(u8::is_ascii_digit)
        && digits
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
            <= 65535
}

fn ipv6_literal(inside: &[u8]) -> bool {
    std::str::from_utf8(inside).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok())
}

/// A non-empty reg-name whose labels are not empty (`a..b`, `.a`), but for one trailing dot
/// (`example.com.`, a fully qualified name). One pass, a table lookup a byte: every request's
/// `Host` comes here.
fn reg_name(host: &[u8]) -> bool {
    let host = host.strip_suffix(b".").unwrap_or(host);
    let mut label = 0usize;
    for &b in host {
        if b == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if REG_NAME[b as usize] {
            label += 1;
        } else {
            return false;
        }
    }
    label > 0
}

/// RFC 3986 `unreserved` and `sub-delims`, by byte (the dot separates labels and is not here).
const REG_NAME: [bool; 256] = {
    let mut allowed = [false; 256];
    let mut b = 0;
    while b < 256 {
        allowed[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-_~!$&'()*+,;=";
    let mut i = 0;
    while i < others.len() {
        allowed[others[i] as usize] = true;
        i += 1;
    }
    allowed
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_addresses_and_ports_a_viewer_sends_are_valid() {
        for host in [
            "example.com",
            "EXAMPLE.com",
            "example.com.",
            "a",
            "my_host-1.internal",
            "xn--caf-dma.example",
            "example.com:8080",
            "example.com:",
            "example.com:65535",
            "203.0.113.7",
            "203.0.113.7:80",
            "[::1]",
            "[2001:db8::1]:443",
            "[::ffff:192.0.2.1]",
            "a,b;c=d",
        ] {
            assert!(is_valid(host.as_bytes()), "{host:?}");
        }
    }

    #[test]
    fn ports_are_dropped_and_ipv6_literals_kept() {
        assert_eq!(without_port(b"example.com:8080"), b"example.com");
        assert_eq!(without_port(b"example.com"), b"example.com");
        assert_eq!(without_port(b"[::1]:8080"), b"[::1]");
        assert_eq!(without_port(b"[::1]"), b"[::1]");
        // A colon followed by something other than digits is no port.
        assert_eq!(without_port(b"example.com:x"), b"example.com:x");
    }

    #[test]
    fn what_is_no_host_is_invalid() {
        for host in [
            &b""[..],
            b":80",
            b" ",
            b"a b",
            b"a\tb",
            b"a/b",
            b"a\\b",
            b"a?b",
            b"a#b",
            b"u@a",
            b"a\"b",
            b"a<b",
            b"a{b",
            b"a:b",
            b"a:80:80",
            b"a:65536",
            b"a:123456",
            b"a:-1",
            b"a..b",
            b".a",
            b".",
            b"a.b..",
            b"[::1",
            b"[::1]x",
            b"[::1]:x",
            b"[example.com]",
            b"[]",
            b"::1",
            b"a%41b",
            b"a%4",
            b"a%zz",
            b"caf\xc3\xa9.example",
            b"a\x00b",
            b"a\x7f",
        ] {
            assert!(!is_valid(host), "{:?}", String::from_utf8_lossy(host));
        }
    }
}
