//! Cache keys: scheme + host + path, plus the query strings, headers and cookies a behavior's
//! cache policy names (CloudFront's cache key settings).
//!
//! The primary key is text, `scheme \n host \n path \n extras`, so the store can tell which
//! host and path an object belongs to when the purge API asks. No part before the extras can
//! contain a newline: the scheme is the proxy's, hosts and paths are URI parts. The scheme is in
//! the key so a redirect to `https` stored for an `http` viewer is never served to an `https`
//! one. Every item in the extras is length-prefixed (`len:item`), so values carrying the
//! separators (`;`, `,`, `=`) cannot make two different requests spell the same key.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use http::header::{HeaderMap, COOKIE};
use pingora::cache::key::HashBinary;
use pingora::cache::CacheKey;

use crate::config::{CachePolicy, KeyItems};

/// The cache key for `primary` (from [`primary_key`]), hashed with `fingerprint` instead of
/// Pingora's default Blake2b, which was 2.1K of the ~58K instructions a cache hit costs.
pub fn cache_key(primary: String) -> CacheKey {
    let mut key = CacheKey::new(primary, "");
    key.set_primary_bin_override(fingerprint(key.primary_key()));
    key
}

/// A 128-bit fingerprint of `bytes`: SipHash-1-3 under a key drawn at random per process, over
/// two domain-separated inputs. Keyed, so a viewer cannot build URLs that collide (the reason
/// a cache key hash must resist collisions at all); per process, which suits the memory store
/// (a persistent store would need a stored key).
fn fingerprint(bytes: &[u8]) -> HashBinary {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    let seed = SEED.get_or_init(RandomState::new);
    let mut out = [0u8; 16];
    for (domain, half) in out.chunks_exact_mut(8).enumerate() {
        half.copy_from_slice(&seed.hash_one((domain as u8, bytes)).to_le_bytes());
    }
    out
}

/// The parts of a primary key.
pub struct KeyParts<'a> {
    /// Lowercase host, without port.
    pub host: &'a str,
    /// The request path, normalized.
    pub path: &'a str,
}

impl<'a> KeyParts<'a> {
    /// The primary key text for `scheme`, `host`, `path` and the policy's `extras`.
    pub fn primary(scheme: &str, host: &str, path: &str, extras: &str) -> String {
        let mut key =
            String::with_capacity(scheme.len() + host.len() + path.len() + extras.len() + 3);
        key.push_str(scheme);
        key.push('\n');
        key.push_str(host);
        key.push('\n');
        key.push_str(path);
        key.push('\n');
        key.push_str(extras);
        key
    }

    /// Splits a primary key built by [`KeyParts::primary`].
    pub fn parse(primary: &'a [u8]) -> Self {
        let text = std::str::from_utf8(primary).unwrap_or("");
        let mut parts = text.splitn(4, '\n').skip(1);
        KeyParts {
            host: parts.next().unwrap_or(""),
            path: parts.next().unwrap_or(""),
        }
    }
}

/// The primary key of a request under `policy`.
pub fn primary_key(
    policy: &CachePolicy,
    scheme: &str,
    host: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> String {
    let mut extras = String::new();
    if policy.query_strings != KeyItems::None {
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| (p.split('=').next().unwrap_or(""), p));
        extras.push_str("q:");
        push_selected(&mut extras, &policy.query_strings, pairs);
    }
    if let KeyItems::Only(names) = &policy.headers {
        extras.push_str("\nh:");
        for name in names {
            let mut values = headers.get_all(name.as_str()).iter().peekable();
            if values.peek().is_none() {
                continue;
            }
            push_item(&mut extras, name);
            for v in values {
                push_item(&mut extras, &String::from_utf8_lossy(v.as_bytes()));
            }
            extras.push(';');
        }
    }
    if policy.cookies != KeyItems::None {
        let cookies: Vec<&str> = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let pairs = cookies
            .iter()
            .map(|c| (c.split('=').next().unwrap_or(""), *c));
        extras.push_str("\nc:");
        push_selected(&mut extras, &policy.cookies, pairs);
    }
    KeyParts::primary(scheme, &host.to_ascii_lowercase(), path, &extras)
}

/// Appends the `(name, item)` pairs `items` selects, sorted so order does not split the cache.
fn push_selected<'a>(
    out: &mut String,
    items: &KeyItems,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let mut chosen: Vec<(&str, &str)> = match items {
        KeyItems::None => return,
        KeyItems::All => pairs.collect(),
        KeyItems::Only(names) => pairs
            .filter(|(name, _)| names.iter().any(|n| n == name))
            .collect(),
    };
    chosen.sort();
    for (_, item) in chosen {
        push_item(out, item);
    }
}

/// Appends `item` as `len:item`: unambiguous whatever bytes the item holds.
fn push_item(out: &mut String, item: &str) {
    let mut len = itoa::Buffer::new();
    out.push_str(len.format(item.len()));
    out.push(':');
    out.push_str(item);
}

#[cfg(test)]
mod tests {
    use pingora::cache::key::CacheHashKey;

    use super::*;

    fn policy(query: KeyItems, headers: KeyItems, cookies: KeyItems) -> CachePolicy {
        CachePolicy {
            query_strings: query,
            headers,
            cookies,
            ..CachePolicy::default()
        }
    }

    #[test]
    fn default_key_is_host_and_path_only() {
        let p = CachePolicy::default();
        let h = HeaderMap::new();
        assert_eq!(
            primary_key(&p, "http", "Example.COM", "/a", Some("x=1"), &h),
            primary_key(&p, "http", "example.com", "/a", Some("y=2"), &h)
        );
        assert_ne!(
            primary_key(&p, "http", "example.com", "/a", None, &h),
            primary_key(&p, "http", "example.com", "/b", None, &h)
        );
    }

    #[test]
    fn query_allow_list_keeps_only_named_parameters_in_any_order() {
        let p = policy(
            KeyItems::Only(vec!["w".into()]),
            KeyItems::None,
            KeyItems::None,
        );
        let h = HeaderMap::new();
        let a = primary_key(&p, "http", "e.test", "/i", Some("w=10&utm=x"), &h);
        let b = primary_key(&p, "http", "e.test", "/i", Some("utm=y&w=10"), &h);
        let c = primary_key(&p, "http", "e.test", "/i", Some("w=20"), &h);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn headers_and_cookies_split_when_named() {
        let p = policy(
            KeyItems::None,
            KeyItems::Only(vec!["accept-language".into()]),
            KeyItems::Only(vec!["tier".into()]),
        );
        let mut en = HeaderMap::new();
        en.insert("accept-language", "en".parse().unwrap());
        en.insert(COOKIE, "tier=gold; session=1".parse().unwrap());
        let mut en2 = en.clone();
        en2.insert(COOKIE, "session=2; tier=gold".parse().unwrap());
        let mut fr = en.clone();
        fr.insert("accept-language", "fr".parse().unwrap());
        let key = |h: &HeaderMap| primary_key(&p, "http", "e.test", "/", None, h);
        assert_eq!(key(&en), key(&en2));
        assert_ne!(key(&en), key(&fr));
    }

    #[test]
    fn scheme_splits_the_key() {
        let p = CachePolicy::default();
        let h = HeaderMap::new();
        assert_ne!(
            primary_key(&p, "http", "e.test", "/", None, &h),
            primary_key(&p, "https", "e.test", "/", None, &h)
        );
    }

    #[test]
    fn values_holding_separators_cannot_collide() {
        let p = policy(
            KeyItems::All,
            KeyItems::Only(vec!["a".into(), "b".into()]),
            KeyItems::All,
        );
        let key = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, v.parse().unwrap());
            }
            primary_key(&p, "http", "e.test", "/", None, &h)
        };
        // One header holding what two would spell, and one line versus two.
        assert_ne!(key(&[("a", "x;b=y")]), key(&[("a", "x"), ("b", "y")]));
        assert_ne!(key(&[("a", "x,y")]), key(&[("a", "x"), ("a", "y")]));
        assert_ne!(key(&[("a", "1:x")]), key(&[("a", "1"), ("a", "x")]));
    }

    #[test]
    fn parses_host_and_path_back() {
        let key = primary_key(
            &CachePolicy::default(),
            "https",
            "e.test",
            "/x/y",
            None,
            &HeaderMap::new(),
        );
        let parts = KeyParts::parse(key.as_bytes());
        assert_eq!((parts.host, parts.path), ("e.test", "/x/y"));
    }

    #[test]
    fn fingerprints_are_stable_and_tell_keys_apart() {
        let a = KeyParts::primary("http", "example.com", "/a", "");
        let b = KeyParts::primary("http", "example.com", "/b", "");
        assert_eq!(fingerprint(a.as_bytes()), fingerprint(a.as_bytes()));
        assert_ne!(fingerprint(a.as_bytes()), fingerprint(b.as_bytes()));
        let halves = fingerprint(a.as_bytes());
        assert_ne!(
            halves[..8],
            halves[8..],
            "the two halves come from different inputs"
        );
        assert_eq!(
            cache_key(a.clone()).primary_bin(),
            fingerprint(a.as_bytes())
        );
        assert_eq!(
            cache_key(a).combined_bin(),
            cache_key(KeyParts::primary("http", "example.com", "/a", "")).combined_bin()
        );
    }
}
