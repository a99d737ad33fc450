//! Query strings as hooks read and change them: parameters in order, values percent-decoded on
//! the way in and RFC 3986-encoded on the way out, so a hook never splits on `&` by hand.

use std::fmt;

/// A parsed query string (`request.querystring` without `?`): `name=value` pairs in order,
/// repeated names kept. Reading decodes `%XX` and `+` (as forms send a space); writing encodes
/// everything but RFC 3986's unreserved characters.
///
/// ```
/// use edge_hooks::QueryString;
///
/// let mut q = QueryString::parse("lang=fr&page=2&tag=a&tag=b%20c");
/// assert_eq!(q.get("lang").as_deref(), Some("fr"));
/// assert_eq!(q.get_all("tag"), ["a", "b c"]);
/// q.remove("lang");
/// q.set("page", "3");
/// q.append("q", "café & co");
/// assert_eq!(q.to_string(), "page=3&tag=a&tag=b%20c&q=caf%C3%A9%20%26%20co");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryString {
    /// Decoded `(name, value)` pairs; `None` for a parameter written without `=`.
    pairs: Vec<(String, Option<String>)>,
}

impl QueryString {
    /// Parses `raw` (without the leading `?`). Never fails: a malformed escape is kept as written.
    pub fn parse(raw: &str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((name, value)) => (decode(name), Some(decode(value))),
                None => (decode(p), None),
            })
            .collect();
        QueryString { pairs }
    }

    /// The first value of `name` (`Some("")` for `name` or `name=` alone).
    pub fn get(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .collect()
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// Sets `name` to the single `value`: in place of its first occurrence (later ones go), or
    /// at the end.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.pairs.iter().position(|(n, _)| n == name) {
            Some(first) => {
                self.pairs[first].1 = Some(value.to_string());
                let mut i = 0;
                self.pairs.retain(|(n, _)| {
                    i += 1;
                    i - 1 == first || n != name
                });
            }
            None => self.append(name, value),
        }
    }

    /// Adds `name=value` at the end.
    pub fn append(&mut self, name: &str, value: &str) {
        self.pairs.push((name.to_string(), Some(value.to_string())));
    }

    /// Removes every occurrence of `name`; returns whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.pairs.len();
        self.pairs.retain(|(n, _)| n != name);
        self.pairs.len() != before
    }

    /// The parameters in order, decoded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_deref().unwrap_or("")))
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl fmt::Display for QueryString {
    /// The query string to set on the request: RFC 3986 percent-encoding, `&` between pairs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            f.write_str(&encode(name))?;
            if let Some(value) = value {
                write!(f, "={}", encode(value))?;
            }
        }
        Ok(())
    }
}

/// `s` with `%XX` and `+` decoded; bytes that are not UTF-8 after decoding are replaced.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `s` with everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`)
/// percent-encoded, as UTF-8.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decodes_and_serializes_round_trip() {
        let q = QueryString::parse("a=1&b&c=&a=2&d=x%2By+z&e=%E2%82%AC");
        assert_eq!(q.get("a").as_deref(), Some("1"));
        assert_eq!(q.get_all("a"), ["1", "2"]);
        assert_eq!(q.get("b").as_deref(), Some(""));
        assert_eq!(q.get("c").as_deref(), Some(""));
        assert_eq!(q.get("d").as_deref(), Some("x+y z"));
        assert_eq!(q.get("e").as_deref(), Some("€"));
        assert_eq!(q.get("z"), None);
        assert_eq!(q.to_string(), "a=1&b&c=&a=2&d=x%2By%20z&e=%E2%82%AC");
        assert_eq!(QueryString::parse(&q.to_string()), q);
    }

    #[test]
    fn malformed_escapes_are_kept() {
        let q = QueryString::parse("a=%&b=%z1&c=%4&d=%+1&e=%é");
        assert_eq!(q.get("a").as_deref(), Some("%"));
        assert_eq!(q.get("b").as_deref(), Some("%z1"));
        assert_eq!(q.get("c").as_deref(), Some("%4"));
        assert_eq!(q.get("d").as_deref(), Some("% 1"));
        assert_eq!(q.get("e").as_deref(), Some("%é"));
        assert!(QueryString::parse("").is_empty());
    }

    #[test]
    fn set_replaces_in_place_and_remove_drops_every_occurrence() {
        let mut q = QueryString::parse("x=1&y=2&x=3");
        q.set("x", "9");
        assert_eq!(q.to_string(), "x=9&y=2");
        q.set("new", "a b");
        assert_eq!(q.to_string(), "x=9&y=2&new=a%20b");
        assert!(q.remove("y"));
        assert!(!q.remove("y"));
        assert_eq!(q.iter().collect::<Vec<_>>(), [("x", "9"), ("new", "a b")]);
    }
}
