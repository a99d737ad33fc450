//! `max-concurrency`: a permit per running invocation; beyond the limit an invocation is
//! throttled (503) instead of waiting, as Lambda's "rate exceeded".

use std::sync::atomic::{AtomicUsize, Ordering};

/// One running invocation, counted against `max-concurrency` until dropped.
pub(super) struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    /// Counts one more invocation, unless `limit` are already running.
    pub(super) fn enter(count: &'a AtomicUsize, limit: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(count))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}
