//! `[cache]` (the store's sizes, the purge token) and each behavior's cache policy.

use std::time::Duration;

use toml::Spanned;

use super::error::IssueSink;
use super::model::{CachePolicy, CacheSettings, KeyItems, CACHED_ERROR_STATUSES};
use super::raw::{RawCache, RawCachePolicy, RawKeyItems};
use super::values::{in_range, secret};

pub(super) fn cache_settings(raw: Option<&RawCache>, sink: &mut IssueSink) -> CacheSettings {
    let mut settings = CacheSettings::default();
    let Some(c) = raw else {
        return settings;
    };
    if let Some(n) = c
        .max_bytes
        .as_ref()
        .and_then(|v| in_range(v, 1024 * 1024, 1 << 40, "cache.max-bytes", sink))
    {
        settings.max_bytes = n as usize;
        settings.max_object_bytes = settings.max_object_bytes.min(settings.max_bytes / 4);
    }
    if let Some(v) = &c.max_object_bytes {
        if let Some(n) = in_range(
            v,
            1,
            settings.max_bytes as i64,
            "cache.max-object-bytes",
            sink,
        ) {
            settings.max_object_bytes = n as usize;
        }
    }
    if let Some(v) = &c.lock_timeout_ms {
        if let Some(n) = in_range(v, 1, 600_000, "cache.lock-timeout-ms", sink) {
            settings.lock_timeout = Duration::from_millis(n as u64);
        }
    }
    settings.purge_token = secret(
        c.purge_token.as_ref(),
        c.purge_token_env.as_ref(),
        "cache.purge-token",
        sink,
    );
    settings
}

pub(super) fn cache_policy(
    c: &RawCachePolicy,
    key: &str,
    sink: &mut IssueSink,
) -> Option<CachePolicy> {
    if !c.enabled {
        return None;
    }
    let mut policy = CachePolicy::default();
    let ttl = |v: &Option<Spanned<i64>>, name: &str, sink: &mut IssueSink| {
        v.as_ref()
            .and_then(|v| in_range(v, 0, 31_536_000 * 10, &format!("{key}.{name}"), sink))
            .map(|n| Duration::from_secs(n as u64))
    };
    if let Some(t) = ttl(&c.min_ttl, "min-ttl", sink) {
        policy.min_ttl = t;
    }
    if let Some(t) = ttl(&c.max_ttl, "max-ttl", sink) {
        policy.max_ttl = t;
    }
    if let Some(t) = ttl(&c.default_ttl, "default-ttl", sink) {
        policy.default_ttl = t;
    }
    policy.default_ttl = policy.default_ttl.min(policy.max_ttl);
    if policy.min_ttl > policy.max_ttl {
        sink.at(
            c.min_ttl.as_ref().map(|v| v.span()),
            format!("{key}.min-ttl"),
            "min-ttl is larger than max-ttl",
        );
    }
    let items = |v: &Option<Spanned<RawKeyItems>>, name: &str, all: bool, sink: &mut IssueSink| {
        let Some(v) = v else {
            return KeyItems::None;
        };
        match v.get_ref() {
            RawKeyItems::Mode(m) if m == "none" => KeyItems::None,
            RawKeyItems::Mode(m) if m == "all" && all => KeyItems::All,
            RawKeyItems::Mode(m) => {
                let expected = if all {
                    "\"none\", \"all\" or a list of names"
                } else {
                    "\"none\" or a list of names"
                };
                sink.at(
                    Some(v.span()),
                    format!("{key}.{name}"),
                    format!("unknown value \"{m}\", expected {expected}"),
                );
                KeyItems::None
            }
            RawKeyItems::List(names) => {
                // Header names are case-insensitive; query strings and cookies are not.
                let mut names: Vec<String> = names
                    .iter()
                    .map(|n| {
                        if all {
                            n.clone()
                        } else {
                            n.to_ascii_lowercase()
                        }
                    })
                    .collect();
                names.sort();
                names.dedup();
                KeyItems::Only(names)
            }
        }
    };
    policy.query_strings = items(&c.query_strings, "query-strings", true, sink);
    policy.headers = items(&c.headers, "headers", false, sink);
    policy.cookies = items(&c.cookies, "cookies", true, sink);
    policy.cache_authorized = c.cache_authorized;
    for (status, seconds) in c.error_caching_min_ttl.iter().flat_map(|t| t.get_ref()) {
        let name = format!("{key}.error-caching-min-ttl.{status}");
        let code = status
            .parse::<u16>()
            .ok()
            .filter(|s| CACHED_ERROR_STATUSES.contains(s));
        let Some(code) = code else {
            sink.at(
                Some(seconds.span()),
                name,
                format!("\"{status}\" is not a status CloudFront caches as an error (one of {CACHED_ERROR_STATUSES:?})"),
            );
            continue;
        };
        if let Some(n) = in_range(seconds, 0, 31_536_000, &name, sink) {
            policy
                .error_caching_min_ttl
                .push((code, Duration::from_secs(n as u64)));
        }
    }
    Some(policy)
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;
    use super::*;

    #[test]
    fn a_small_store_caps_the_object_size_and_policies_keep_their_ttls() {
        let config = parse_with(
            "[cache]\nmax-bytes = 4194304\n[default-behavior.cache]\ndefault-ttl = 60\n",
        )
        .expect("valid");
        assert_eq!(config.cache.max_bytes, 4 << 20);
        assert!(config.cache.max_object_bytes <= (4 << 20) / 4);
        let policy = config.behaviors[0].cache.as_ref().expect("a policy");
        assert_eq!(policy.default_ttl, Duration::from_secs(60));
    }
}
