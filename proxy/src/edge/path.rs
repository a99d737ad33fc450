//! The one place a request's path is decided.
//!
//! Behaviors match on the path, hooks see it, the cache keys on it and origins serve it. If
//! each of them read the raw request target its own way, `/%70rivate/` or `//private/` would
//! match the default behavior while a files origin (which decodes and cleans keys) served
//! `/private/` — a hook's protection bypassed by spelling. So the path is normalized once,
//! before behavior matching, and the request carries the normalized form from then on: every
//! consumer sees the same bytes.
//!
//! The rules (RFC 3986 §6.2.2 plus what an edge node must refuse):
//! - percent-encoded unreserved characters (`A–Z a–z 0–9 - . _ ~`) are decoded (`%70` → `p`,
//!   `%2e` → `.`); every other percent-encoding stays encoded, with upper-case hex digits;
//! - dot segments are removed after that decoding (`/a/./b/../c` → `/a/c`; `..` never climbs
//!   above the root);
//! - runs of slashes are merged (`//private///x` → `/private/x`), as nginx's `merge_slashes`;
//! - characters a request target cannot carry raw (non-ASCII, `" # < > ? \` { }`) are
//!   percent-encoded;
//! - refused with 400: a path that does not start with `/`, a malformed percent-encoding, an
//!   encoded `/` or `\` (`%2F`, `%5C`: origins disagree on whether they separate segments), a
//!   raw `\`, a control character raw or encoded (`%00`–`%1F`, `%7F`), and a path whose
//!   percent-decoded bytes are not valid UTF-8 (overlong forms such as `%C0%AE` included).
//!
//! CloudFront normalizes for behavior matching but forwards the raw path; edge-proxy forwards
//! the normalized one, so an origin can never resolve a spelling differently from the behavior
//! that let it through. The query string is not touched.

use std::borrow::Cow;
use std::fmt;

/// Why a path cannot be normalized safely (the viewer gets 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// `%` not followed by two hex digits.
    BadPercentEncoding,
    /// `%2F` or `%5C`.
    EncodedSeparator,
    /// A raw `\`.
    Backslash,
    /// A control character, raw or percent-encoded.
    ControlCharacter,
    /// Percent-decoded bytes that are not UTF-8.
    InvalidUtf8,
}

impl PathError {
    /// A short reason for the viewer and the log.
    pub fn reason(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "path does not start with '/'",
            PathError::BadPercentEncoding => "malformed percent-encoding in path",
            PathError::EncodedSeparator => "encoded '/' or '\\' in path",
            PathError::Backslash => "'\\' in path",
            PathError::ControlCharacter => "control character in path",
            PathError::InvalidUtf8 => "path is not UTF-8 once decoded",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for PathError {}

/// Replaces `req`'s path with its normalized form (scheme, authority and query kept).
pub fn normalize_request(req: &mut pingora::http::RequestHeader) -> Result<(), PathError> {
    let Cow::Owned(path) = normalize(req.uri.path())? else {
        return Ok(());
    };
    let target = match req.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = req.uri.clone().into_parts();
    // The normalized path is ASCII without spaces or controls: it always parses.
    parts.path_and_query = Some(target.parse().map_err(|_| PathError::BadPercentEncoding)?);
    req.set_uri(http::Uri::from_parts(parts).map_err(|_| PathError::BadPercentEncoding)?);
    Ok(())
}

/// The normalized form of `path` (borrowed when it already is normal, the usual case).
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(bytes) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(bytes)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// Whether `bytes` (starting with `/`) is its own normal form: nothing encoded, visible ASCII
/// other than a backslash, no empty or dot segment.
fn is_normal(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' | b'\\' => return false,
            b if !is_path_char(b) => return false,
            b'/' => {
                let rest = &bytes[i + 1..];
                let segment = rest.split(|&b| b == b'/').next().unwrap_or_default();
                if (segment.is_empty() && !rest.is_empty()) || segment == b"." || segment == b".." {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// Decodes percent-encoded unreserved characters, upper-cases the hex of the others, and
/// refuses what [`normalize`] refuses. The result is ASCII.
fn decode_unreserved(bytes: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(bytes.len());
    // Every byte the path stands for, decoded, to check it is UTF-8.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let hex = |at: usize| bytes.get(at).and_then(|&h| (h as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(PathError::BadPercentEncoding);
                };
                let v = (hi * 16 + lo) as u8;
                match v {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    v if v < 0x20 || v == 0x7f => return Err(PathError::ControlCharacter),
                    v if is_unreserved(v) => out.push(v as char),
                    v => push_encoded(&mut out, v),
                }
                decoded.push(v);
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b if b < 0x21 || b == 0x7f => return Err(PathError::ControlCharacter),
            b if !is_path_char(b) => {
                // Raw non-ASCII or a character a request target cannot carry as is (a lenient
                // client's): encoded, so the path stays a valid request target.
                push_encoded(&mut out, b);
                decoded.push(b);
                i += 1;
            }
            b => {
                out.push(b as char);
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).map_err(|_| PathError::InvalidUtf8)?;
    Ok(out)
}

/// A byte a normalized path carries as is: visible ASCII a request target's path may hold
/// unencoded (not `" # < > ? \` { }`; a raw `\` is refused before this is asked).
fn is_path_char(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'"' | b'#' | b'<' | b'>' | b'?' | b'`' | b'{' | b'}')
}

/// Appends `b` percent-encoded, with upper-case hex digits.
fn push_encoded(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 15) as usize] as char);
}

/// RFC 3986 unreserved characters: decoding them never changes what a URI means.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Removes `.` and `..` segments and merges empty ones, keeping a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let parts = path[1..].split('/');
    for part in parts {
        trailing_slash = true;
        match part {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalize(p).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed_unchanged() {
        for p in ["/", "/a", "/a/", "/a/b.html", "/a.b/c..d/.e/", "/~u/x-y_z"] {
            assert!(
                matches!(normalize(p), Ok(Cow::Borrowed(q)) if q == p),
                "{p}"
            );
        }
    }

    #[test]
    fn every_spelling_of_a_path_becomes_one() {
        for p in [
            "/private/",
            "//private/",
            "/private//",
            "///private///",
            "/%70rivate/",
            "/%70%72%69%76%61%74%65/",
            "/%50rivate/../private/",
            "/./private/",
            "/private/.",
            "/x/../private/",
            "/../private/",
            "/%2e%2e/private/",
            "/%2E/private/%2e/",
            "/public/%2E%2E/private/",
            "/a/b/../../private/",
        ] {
            assert_eq!(n(p).as_deref(), Ok("/private/"), "{p}");
        }
        assert_eq!(n("/private/index.html").unwrap(), "/private/index.html");
        assert_eq!(n("/a/..").unwrap(), "/");
        assert_eq!(n("/..").unwrap(), "/");
        assert_eq!(n("//").unwrap(), "/");
    }

    #[test]
    fn reserved_encodings_stay_encoded_in_upper_case() {
        assert_eq!(n("/a%20b").unwrap(), "/a%20b");
        assert_eq!(n("/a%3fb%3F").unwrap(), "/a%3Fb%3F");
        assert_eq!(n("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(n("/%25").unwrap(), "/%25");
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let cases = [
            ("private/", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("/a%", PathError::BadPercentEncoding),
            ("/a%2", PathError::BadPercentEncoding),
            ("/a%zz", PathError::BadPercentEncoding),
            ("/private%2Findex.html", PathError::EncodedSeparator),
            ("/private%2findex.html", PathError::EncodedSeparator),
            ("/private%5Cindex.html", PathError::EncodedSeparator),
            ("/private\\index.html", PathError::Backslash),
            ("/a%00b", PathError::ControlCharacter),
            ("/a%0d%0ab", PathError::ControlCharacter),
            ("/a%7f", PathError::ControlCharacter),
            ("/a\tb", PathError::ControlCharacter),
            ("/%c0%ae%c0%ae/private/", PathError::InvalidUtf8),
            ("/%e0%80%ae", PathError::InvalidUtf8),
            ("/%ff", PathError::InvalidUtf8),
            ("/%c3", PathError::InvalidUtf8),
        ];
        for (p, e) in cases {
            assert_eq!(n(p), Err(e), "{p:?}");
        }
    }

    #[test]
    fn raw_characters_a_target_cannot_carry_are_encoded() {
        assert_eq!(n("/caf\u{e9}/").unwrap(), "/caf%C3%A9/");
        assert_eq!(n("/a`b<c>{d}\"e").unwrap(), "/a%60b%3Cc%3E%7Bd%7D%22e");
        for p in ["/a?b", "/a#b"] {
            assert!(n(p)
                .unwrap()
                .parse::<http::uri::PathAndQuery>()
                .unwrap()
                .query()
                .is_none());
        }
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for p in [
            "/%70rivate//./x/../y/",
            "/a%3fb/%2e/",
            "/caf%c3%a9/..",
            "/%7e/",
        ] {
            let once = n(p).unwrap();
            assert_eq!(n(&once).unwrap(), once, "{p}");
        }
    }
}
