//! The one check for what a hook or a function puts on the wire: status, reason phrase, header
//! names and values. Pingora writes reason phrases and header bytes as given, so a CR or LF
//! that got past this point would split the response; everything a hook result or a function
//! result carries to the viewer or the origin passes through these functions first (validation
//! of hook outcomes and the ALB / API Gateway result readers call them), and a value they refuse
//! makes the result invalid (502), never a 500.
//!
//! Viewer requests and origin responses are parsed by Pingora (httparse), which already refuses
//! these bytes; the proxy's own values are constants.

use std::fmt;

/// Why a value may not go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// A status a hook or function may not send (1xx would desynchronise the connection).
    Status(u16),
    /// A reason phrase with a control character.
    Reason,
    /// A header name that is not an RFC 9110 token.
    HeaderName(String),
    /// A header value with CR, LF, NUL or another control character.
    HeaderValue(String),
    /// A uri or query string that is not a request target.
    Target(String),
    /// A line whose `key` names a different header than the name it is filed under.
    KeyMismatch {
        /// The lowercase name the line is filed (and validated) under.
        name: String,
        /// The name it would have been sent with.
        key: String,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Status(s) => write!(f, "status {s} is outside 200-599"),
            WireError::Reason => f.write_str("status description contains a control character"),
            WireError::HeaderName(n) => write!(f, "header name {n:?} is not a valid token"),
            WireError::HeaderValue(n) => {
                write!(
                    f,
                    "header \"{n}\" has a value with CR, LF, NUL or a control character"
                )
            }
            WireError::Target(what) => write!(
                f,
                "{what} must start with '/' (uri) and hold only characters a request target carries unencoded"
            ),
            WireError::KeyMismatch { name, key } => {
                write!(f, "header key {key:?} does not name header \"{name}\"")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// A status a hook or function may send: 200–599 (Lambda@Edge's rule; a 1xx from an ALB
/// target is a malformed result too).
pub fn status(code: u16) -> Result<http::StatusCode, WireError> {
    if (200..=599).contains(&code) {
        http::StatusCode::from_u16(code).map_err(|_| WireError::Status(code))
    } else {
        Err(WireError::Status(code))
    }
}

/// A reason phrase: RFC 9112's `*( HTAB / SP / VCHAR / obs-text )`, so no CR, LF, NUL or
/// other control character.
pub fn reason(text: &str) -> Result<(), WireError> {
    if text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)) {
        Ok(())
    } else {
        Err(WireError::Reason)
    }
}

/// A header name: an RFC 9110 token no longer than the `http` crate (and so Pingora) takes.
/// Checked in place: every line a hook writes passes here, and building the `http` crate's
/// name to throw it away cost an allocation per line. The bytes are folded, not searched: a
/// valid name (the usual case) is read whole anyway, and a pass with no exit per byte is one
/// load and one `and` a byte.
pub fn header_name(name: &str) -> Result<(), WireError> {
    let all_token = name.bytes().fold(true, |ok, b| ok & TOKEN[b as usize]);
    if name.is_empty() || name.len() > MAX_HEADER_NAME_BYTES || !all_token {
        return Err(WireError::HeaderName(name.into()));
    }
    Ok(())
}

/// RFC 9110 `tchar`, by byte: one lookup per byte of every name checked.
const TOKEN: [bool; 256] = {
    let mut token = [false; 256];
    let mut b = 0;
    while b < 256 {
        token[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        token[symbols[i] as usize] = true;
        i += 1;
    }
    token
};

/// Longest header name the `http` crate accepts.
const MAX_HEADER_NAME_BYTES: usize = (1 << 16) - 1;

/// A header value: `field-value` of RFC 9110 (HTAB, SP, visible characters, obs-text), checked
/// in place as names are, and folded as names are, which the compiler vectorises: values are
/// the longer half of what hooks write.
pub fn header_value(name: &str, value: &str) -> Result<(), WireError> {
    let control = value.bytes().fold(false, |bad, b| {
        bad | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
    });
    if control {
        return Err(WireError::HeaderValue(name.into()));
    }
    Ok(())
}

/// One header line filed under `name` (lowercase) and sent as `key`: the key may differ from
/// the name only in case, so what was validated under `name` is what goes out.
pub fn header_line(name: &str, key: &str, value: &str) -> Result<(), WireError> {
    if !key.eq_ignore_ascii_case(name) {
        return Err(WireError::KeyMismatch {
            name: name.into(),
            key: key.into(),
        });
    }
    header_name(key)?;
    header_value(name, value)?;
    Ok(())
}

/// A hook's `uri` and `querystring` are fit for the request line: the uri starts with `/`, and
/// both hold only the bytes a request target carries unencoded (RFC 3986 as the `http` crate's
/// parser takes it: no space, control, non-ASCII, `#`, `<`, `>` or backtick; no `?` in the uri,
/// which would move the query). Checks without allocating: validation runs on every request
/// trigger.
pub fn check_request_target(uri: &str, querystring: &str) -> Result<(), WireError> {
    let path_byte = |b: u8| {
        matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E)
            || matches!(b, b'"' | b'{' | b'}')
    };
    let query_byte = |b: u8| matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E);
    if !uri.starts_with('/') || !uri.bytes().all(path_byte) {
        return Err(WireError::Target(format!("uri {uri:?}")));
    }
    if !querystring.bytes().all(query_byte) {
        return Err(WireError::Target(format!("querystring {querystring:?}")));
    }
    Ok(())
}

/// The request target [`check_request_target`] accepts, built.
pub fn request_target(uri: &str, querystring: &str) -> Result<http::uri::PathAndQuery, WireError> {
    check_request_target(uri, querystring)?;
    let target = if querystring.is_empty() {
        uri.to_string()
    } else {
        format!("{uri}?{querystring}")
    };
    target
        .parse()
        .map_err(|_| WireError::Target(format!("request target {target:?}")))
}

/// Headers that frame the message or describe the connection: the proxy writes them itself,
/// and never takes them from a hook or function (a wrong `Content-Length` would desynchronise
/// the viewer's connection).
pub const PROXY_OWNED: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` (lowercase) is one of [`PROXY_OWNED`].
pub fn is_proxy_owned(name: &str) -> bool {
    PROXY_OWNED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_outside_200_599_are_refused() {
        for code in [0, 1, 100, 101, 103, 199, 600, 999, u16::MAX] {
            assert_eq!(status(code), Err(WireError::Status(code)), "{code}");
        }
        for code in [200, 204, 301, 404, 599] {
            assert!(status(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn every_control_character_is_refused_in_reasons_and_values() {
        for b in (0u8..0x20).chain([0x7f]).filter(|&b| b != b'\t') {
            let text = format!("OK{}X", b as char);
            assert_eq!(reason(&text), Err(WireError::Reason), "{b:#x}");
            assert!(header_value("x", &text).is_err(), "{b:#x}");
            assert!(header_line("x", "X", &text).is_err(), "{b:#x}");
        }
        assert!(reason("Not Found\there é").is_ok());
        assert!(header_value("x", "a\tb é").is_ok());
    }

    #[test]
    fn request_targets_cannot_split_the_request_line() {
        assert_eq!(
            request_target("/a/b", "x=1&y").unwrap().as_str(),
            "/a/b?x=1&y"
        );
        for (uri, query) in [
            ("a", ""),
            ("/a b", ""),
            ("/a\r\nX: 1", ""),
            ("/a?b", ""),
            ("/a#b", ""),
            ("/caf\u{e9}", ""),
            ("/", "a b"),
            ("/", "a#b"),
            ("/", "a\nb"),
            ("/a<b>", ""),
            ("/a`b", ""),
            ("/", "a<b"),
        ] {
            assert!(request_target(uri, query).is_err(), "{uri:?} {query:?}");
        }
        // Whatever the check accepts, the parser accepts: every single byte, in both places.
        for b in 0u8..=255 {
            let text = String::from_utf8_lossy(&[b]).into_owned();
            let uri = format!("/{text}");
            if check_request_target(&uri, "").is_ok() {
                assert!(request_target(&uri, "").is_ok(), "{b:#x} in the uri");
            }
            if check_request_target("/", &text).is_ok() {
                assert!(request_target("/", &text).is_ok(), "{b:#x} in the query");
            }
        }
    }

    /// What the checks accept is what the `http` crate (which Pingora writes with) accepts,
    /// byte for byte: every ASCII byte and a non-ASCII character, alone and at every place in
    /// a name or value long enough to be checked in wide steps, and names at the length limit.
    #[test]
    fn checks_agree_with_the_http_crate_on_every_byte() {
        let chars = (0u8..0x80)
            .map(char::from)
            .chain(['\u{e9}', '\u{80}', '\u{fffd}']);
        for c in chars {
            let placed = (0..=40).map(|at| format!("{}{c}{}", "a".repeat(at), "b".repeat(40 - at)));
            for text in std::iter::once(c.to_string()).chain(placed) {
                assert_eq!(
                    header_name(&text).is_ok(),
                    http::HeaderName::from_bytes(text.as_bytes()).is_ok(),
                    "name {text:?}"
                );
                assert_eq!(
                    header_value("x", &text).is_ok(),
                    http::HeaderValue::from_str(&text).is_ok(),
                    "value {text:?}"
                );
            }
        }
        for len in [MAX_HEADER_NAME_BYTES, MAX_HEADER_NAME_BYTES + 1] {
            let name = "a".repeat(len);
            assert_eq!(
                header_name(&name).is_ok(),
                http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
                "{len} bytes"
            );
        }
        assert!(header_name(&"a".repeat(MAX_HEADER_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn names_must_be_tokens_and_keys_must_match() {
        for bad in ["", "a b", "a:b", "a\r\nb", "a\0", "ü", "(x)", "a/b"] {
            assert!(header_name(bad).is_err(), "{bad:?}");
        }
        assert!(header_line("x-a", "X-A", "1").is_ok());
        assert!(matches!(
            header_line("x-a", "Transfer-Encoding", "chunked"),
            Err(WireError::KeyMismatch { .. })
        ));
        assert!(matches!(
            header_line("x-a", "X-A\r\nX-B", "1"),
            Err(WireError::KeyMismatch { .. })
        ));
    }
}
