//! What the cache did for a request, as `edge_cache_requests_total{result}` and the real-time
//! log's result type name it: one mapping from Pingora's cache phase, read by both.

use pingora::cache::{CachePhase, NoCacheReason};

/// The cache's part in a request of a behavior with a cache policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheResult {
    /// Served from a fresh stored object.
    Hit,
    /// Served from a stale object (while revalidating, or because the origin failed).
    Stale,
    /// A stale object revalidated by the origin (`304`) and served.
    RefreshHit,
    /// Fetched from the origin: nothing stored, or the stored object expired.
    Miss,
    /// Cacheable by its behavior, but not this request or response (a method, `Authorization`,
    /// the response's `Cache-Control`, its size).
    Uncacheable,
}

impl CacheResult {
    /// Every result, in the order of their index ([`CacheResult::index`]).
    pub const ALL: [CacheResult; 5] = [
        CacheResult::Hit,
        CacheResult::Stale,
        CacheResult::RefreshHit,
        CacheResult::Miss,
        CacheResult::Uncacheable,
    ];

    /// The result of a request that ended in `phase`; `None` when its behavior has no cache
    /// policy (the cache was never on).
    pub fn of(phase: &CachePhase) -> Option<CacheResult> {
        Some(match phase {
            CachePhase::Hit => CacheResult::Hit,
            CachePhase::Stale | CachePhase::StaleUpdating => CacheResult::Stale,
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => CacheResult::RefreshHit,
            CachePhase::Miss | CachePhase::Expired => CacheResult::Miss,
            CachePhase::Disabled(NoCacheReason::NeverEnabled) => return None,
            _ => CacheResult::Uncacheable,
        })
    }

    /// Its `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Stale => "stale",
            CacheResult::RefreshHit => "refresh-hit",
            CacheResult::Miss => "miss",
            CacheResult::Uncacheable => "uncacheable",
        }
    }

    /// Its place in [`CacheResult::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_result_sits_at_its_index_with_its_own_label() {
        for (i, result) in CacheResult::ALL.iter().enumerate() {
            assert_eq!(result.index(), i);
        }
        let labels: Vec<&str> = CacheResult::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            labels,
            ["hit", "stale", "refresh-hit", "miss", "uncacheable"]
        );
    }

    #[test]
    fn phases_map_to_results_and_a_cache_never_on_to_none() {
        assert_eq!(CacheResult::of(&CachePhase::Hit), Some(CacheResult::Hit));
        assert_eq!(
            CacheResult::of(&CachePhase::StaleUpdating),
            Some(CacheResult::Stale)
        );
        assert_eq!(
            CacheResult::of(&CachePhase::Revalidated),
            Some(CacheResult::RefreshHit)
        );
        assert_eq!(
            CacheResult::of(&CachePhase::Expired),
            Some(CacheResult::Miss)
        );
        assert_eq!(
            CacheResult::of(&CachePhase::Disabled(NoCacheReason::OriginNotCache)),
            Some(CacheResult::Uncacheable)
        );
        assert_eq!(
            CacheResult::of(&CachePhase::Disabled(NoCacheReason::NeverEnabled)),
            None
        );
    }
}
