//! The series every request ends by counting (requests by behavior and status, cacheable
//! requests by behavior and result), resolved once per behavior. A labelled lookup hashes the
//! label values and takes the metric family's lock; hooks-off requests paid two of them each.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;

use http::StatusCode;
use prometheus::{IntCounter, IntCounterVec};

use crate::cache::CacheResult;

/// Statuses a behavior keeps resolved. A behavior that answers more distinct statuses looks
/// the others up each time, as every request did before.
const KEPT_STATUSES: usize = 16;

/// The key of requests that ended without a response written (counted as status `"0"`).
/// `StatusCode` holds 100–999, so neither this nor a free slot's 0 is a status.
const NO_STATUS: u16 = 1000;

/// One behavior's request series (or those of requests that matched none), each made on its
/// first request (a series shows in `/metrics` once it exists).
#[derive(Default)]
pub struct RequestMeters {
    statuses: [KeptStatus; KEPT_STATUSES],
    cache: [OnceLock<IntCounter>; CacheResult::ALL.len()],
}

/// A slot holding one status's counter.
#[derive(Default)]
struct KeptStatus {
    /// The status counted here (`NO_STATUS` for none); 0 while free. Claimed once, never freed.
    status: AtomicU16,
    counter: OnceLock<IntCounter>,
}

impl RequestMeters {
    /// Counts a request of behavior `behavior` answered with `status` in `requests`.
    pub fn count_answered(
        &self,
        requests: &IntCounterVec,
        behavior: &str,
        status: Option<StatusCode>,
    ) {
        let key = status.map_or(NO_STATUS, |s| s.as_u16());
        let resolve = || {
            let label = status.as_ref().map_or("0", StatusCode::as_str);
            requests.with_label_values(&[behavior, label])
        };
        for slot in &self.statuses {
            let mut held = slot.status.load(Ordering::Relaxed);
            if held == 0 {
                held =
                    match slot
                        .status
                        .compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed)
                    {
                        Ok(_) => key,
                        Err(claimed) => claimed,
                    };
            }
            if held == key {
                slot.counter.get_or_init(resolve).inc();
                return;
            }
        }
        resolve().inc();
    }

    /// Counts a cacheable request of behavior `behavior` with `result` in `cache_requests`.
    pub fn count_cache_result(
        &self,
        cache_requests: &IntCounterVec,
        behavior: &str,
        result: CacheResult,
    ) {
        self.cache[result.index()]
            .get_or_init(|| cache_requests.with_label_values(&[behavior, result.as_str()]))
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use prometheus::Opts;

    use super::*;

    fn family(name: &str, labels: &[&str]) -> IntCounterVec {
        IntCounterVec::new(Opts::new(name, "test"), labels).unwrap()
    }

    fn count(family: &IntCounterVec, labels: &[&str]) -> u64 {
        family.with_label_values(labels).get()
    }

    #[test]
    fn each_status_is_counted_in_its_own_series_past_the_kept_ones_too() {
        let requests = family("requests", &["behavior", "status"]);
        let meters = RequestMeters::default();
        // More distinct statuses than slots: the last ones are looked up each time.
        let statuses: Vec<u16> = (200..200 + KEPT_STATUSES as u16 + 4).collect();
        for (i, s) in statuses.iter().enumerate() {
            for _ in 0..=i {
                let status = StatusCode::from_u16(*s).unwrap();
                meters.count_answered(&requests, "b", Some(status));
            }
        }
        meters.count_answered(&requests, "b", None);
        meters.count_answered(&requests, "b", None);
        for (i, s) in statuses.iter().enumerate() {
            assert_eq!(
                count(&requests, &["b", &s.to_string()]),
                i as u64 + 1,
                "{s}"
            );
        }
        assert_eq!(count(&requests, &["b", "0"]), 2);
    }

    #[test]
    fn threads_racing_for_slots_lose_no_count() {
        let requests = family("requests", &["behavior", "status"]);
        let meters = RequestMeters::default();
        std::thread::scope(|scope| {
            for t in 0..4u16 {
                let (requests, meters) = (&requests, &meters);
                scope.spawn(move || {
                    for i in 0..1000u16 {
                        let status = StatusCode::from_u16(200 + (i + t) % 24).unwrap();
                        meters.count_answered(requests, "b", Some(status));
                    }
                });
            }
        });
        let total: u64 = (200..224)
            .map(|s: u16| count(&requests, &["b", &s.to_string()]))
            .sum();
        assert_eq!(total, 4000);
    }

    #[test]
    fn each_cache_result_is_counted_in_its_own_series() {
        let cache = family("cache", &["behavior", "result"]);
        let meters = RequestMeters::default();
        for (i, result) in CacheResult::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                meters.count_cache_result(&cache, "b", result);
            }
        }
        for (i, result) in CacheResult::ALL.into_iter().enumerate() {
            let label = result.as_str();
            assert_eq!(count(&cache, &["b", label]), i as u64 + 1, "{label}");
        }
    }
}
