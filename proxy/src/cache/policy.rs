//! Whether and for how long a response is stored, under a behavior's cache policy.
//!
//! The rules are CloudFront's with HTTP's (RFC 9111) safety: the origin's `s-maxage`,
//! `max-age` or `Expires` sets the TTL, clamped to the policy's min and max; without them the
//! policy's default TTL applies to statuses HTTP lets a cache store heuristically. `no-store`,
//! `private`, `Vary: *` and `Set-Cookie` responses are never stored.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use pingora::cache::cache_control::CacheControl;
use pingora::cache::filters::calculate_expires_header_time;
use pingora::cache::{CacheMeta, NoCacheReason, RespCacheable};
use pingora::http::ResponseHeader;

use crate::config::CachePolicy;

/// Statuses a cache may store without explicit freshness (RFC 9110 §15.1), as CloudFront does.
fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Decides whether `resp` is stored and builds its cache metadata.
pub fn response_cacheable(policy: &CachePolicy, resp: &ResponseHeader) -> RespCacheable {
    let cc = CacheControl::from_resp_headers(resp);
    if let Some(cc) = &cc {
        if cc.no_store() || cc.private() {
            return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
        }
    }
    if resp.headers.contains_key(http::header::SET_COOKIE) {
        return RespCacheable::Uncacheable(NoCacheReason::Custom("set-cookie"));
    }
    if resp.headers.get_all(http::header::VARY).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|n| n.trim_ascii() == b"*")
    }) {
        return RespCacheable::Uncacheable(NoCacheReason::Custom("vary-star"));
    }
    if matches!(resp.status.as_u16(), 206 | 304) || resp.status.is_informational() {
        return RespCacheable::Uncacheable(NoCacheReason::Custom("status"));
    }

    let now = SystemTime::now();
    let explicit = cc
        .as_ref()
        .and_then(|cc| {
            if cc.no_cache() {
                return Some(Duration::ZERO);
            }
            cc.s_maxage()
                .ok()
                .flatten()
                .or_else(|| cc.max_age().ok().flatten())
                .map(|s| Duration::from_secs(s.into()))
        })
        .or_else(|| {
            calculate_expires_header_time(resp)
                .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
        });
    let status = resp.status.as_u16();
    let ttl = match explicit {
        Some(ttl) => ttl.clamp(policy.min_ttl, policy.max_ttl),
        // An error is kept only briefly, so one bad answer (or one viewer's odd request) does
        // not stand for the default TTL.
        None if status >= 400 => match policy.error_ttl(status) {
            Some(ttl) => ttl,
            None => return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache),
        },
        None if heuristically_cacheable(resp.status) => policy.default_ttl,
        None => return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache),
    };
    let fresh_until = if ttl.is_zero() {
        // stored but stale at once: every use revalidates with the origin
        now - Duration::from_secs(1)
    } else {
        now + ttl
    };
    let seconds = |d: Option<u32>| d.unwrap_or(0);
    let (swr, sie) = cc
        .as_ref()
        .map(|cc| {
            (
                seconds(cc.stale_while_revalidate().ok().flatten()),
                seconds(cc.stale_if_error().ok().flatten()),
            )
        })
        .unwrap_or((0, 0));
    RespCacheable::Cacheable(CacheMeta::new(fresh_until, now, swr, sie, resp.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn ttl(policy: &CachePolicy, r: &ResponseHeader) -> Option<u64> {
        match response_cacheable(policy, r) {
            RespCacheable::Cacheable(meta) => Some(meta.fresh_sec()),
            RespCacheable::Uncacheable(_) => None,
        }
    }

    #[test]
    fn origin_max_age_is_clamped_to_the_policy() {
        let policy = CachePolicy {
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(100),
            ..CachePolicy::default()
        };
        assert_eq!(
            ttl(&policy, &resp(200, &[("cache-control", "max-age=50")])),
            Some(50)
        );
        assert_eq!(
            ttl(&policy, &resp(200, &[("cache-control", "max-age=1")])),
            Some(10)
        );
        assert_eq!(
            ttl(&policy, &resp(200, &[("cache-control", "max-age=999")])),
            Some(100)
        );
        assert_eq!(
            ttl(
                &policy,
                &resp(200, &[("cache-control", "max-age=5, s-maxage=60")])
            ),
            Some(60)
        );
    }

    #[test]
    fn default_ttl_applies_only_to_heuristically_cacheable_statuses() {
        let policy = CachePolicy {
            default_ttl: Duration::from_secs(30),
            ..CachePolicy::default()
        };
        assert_eq!(ttl(&policy, &resp(200, &[])), Some(30));
        assert_eq!(ttl(&policy, &resp(301, &[])), Some(30));
        assert_eq!(ttl(&policy, &resp(302, &[])), None);
        assert_eq!(
            ttl(&policy, &resp(302, &[("cache-control", "max-age=5")])),
            Some(5)
        );
    }

    #[test]
    fn errors_without_freshness_are_kept_for_the_error_caching_min_ttl() {
        let mut policy = CachePolicy {
            default_ttl: Duration::from_secs(3600),
            ..CachePolicy::default()
        };
        for status in [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504] {
            assert_eq!(ttl(&policy, &resp(status, &[])), Some(10), "{status}");
        }
        for status in [401, 409, 410, 429, 505] {
            assert_eq!(ttl(&policy, &resp(status, &[])), None, "{status}");
        }
        policy.error_caching_min_ttl = vec![(404, Duration::from_secs(60))];
        assert_eq!(ttl(&policy, &resp(404, &[])), Some(60));
        assert_eq!(ttl(&policy, &resp(500, &[])), Some(10));
        // The origin's own freshness still decides, clamped as for any response.
        assert_eq!(
            ttl(&policy, &resp(404, &[("cache-control", "max-age=5")])),
            Some(5)
        );
    }

    #[test]
    fn never_stores_what_http_forbids() {
        let p = CachePolicy::default();
        assert_eq!(ttl(&p, &resp(200, &[("cache-control", "no-store")])), None);
        assert_eq!(
            ttl(&p, &resp(200, &[("cache-control", "private, max-age=60")])),
            None
        );
        assert_eq!(ttl(&p, &resp(200, &[("set-cookie", "a=b")])), None);
        assert_eq!(ttl(&p, &resp(200, &[("vary", "accept, *")])), None);
        assert_eq!(
            ttl(&p, &resp(206, &[("cache-control", "max-age=60")])),
            None
        );
    }

    #[test]
    fn expires_sets_the_ttl_when_cache_control_does_not() {
        let p = CachePolicy::default();
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let t = ttl(&p, &resp(200, &[("expires", &later)])).unwrap();
        assert!((118..=120).contains(&t), "{t}");
    }
}
