//! The edge cache: behaviors' cache policies over one byte-bounded memory store.
//!
//! Pingora's `HttpCache` runs the state machine (lookup, the lock that collapses a burst on a
//! cold key into one origin fetch, Vary, stale-while-revalidate, stale-if-error, 304 and 206
//! from stored objects); this module supplies what it asks of us: the key ([`key`]), whether a
//! response is stored and for how long ([`policy`]), and the storage ([`store`]).

pub mod key;
pub mod policy;
mod result;
pub mod store;

use pingora::cache::lock::{CacheKeyLockImpl, CacheLock};

use crate::config::CacheSettings;
pub use result::CacheResult;
pub use store::{MemoryStore, PurgeEpoch, PurgeScope};

/// The node's cache: storage and lock live for the whole process (Pingora wants `'static`).
#[derive(Clone, Copy)]
pub struct EdgeCache {
    /// Where objects are kept.
    pub store: &'static MemoryStore,
    /// Collapses concurrent misses on one key.
    pub lock: &'static CacheKeyLockImpl,
    /// Objects larger than this are passed through, not stored.
    pub max_object_bytes: usize,
}

impl EdgeCache {
    /// Builds the store and lock `settings` describe. They are leaked: one per process.
    pub fn new(settings: &CacheSettings) -> Self {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(
            settings.max_bytes,
            settings.max_object_bytes,
        )));
        let lock: &'static CacheKeyLockImpl =
            Box::leak(CacheLock::new_boxed(settings.lock_timeout));
        EdgeCache {
            store,
            lock,
            max_object_bytes: settings.max_object_bytes,
        }
    }
}
