//! [`MemoryStore`]: the cache's storage, a byte-bounded LRU in memory.
//!
//! Pingora's cache drives the state machine (lookup, lock, Vary, stale); this is what it reads
//! and writes. While a miss streams to the viewer, the store keeps references to the chunks the
//! origin sent (`Bytes` are reference counted); a complete object is joined once into one
//! buffer so hits go out in few writes. Every insert
//! evicts least recently used objects until the store is back under its budget, under one lock,
//! so the budget holds at every instant, not eventually.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use lru::LruCache;
use pingora::cache::key::{CacheHashKey, HashBinary};
use pingora::cache::storage::{
    HandleHit, HandleMiss, HitHandler, MissFinishType, MissHandler, PurgeOutcome, PurgeTarget,
    PurgeType,
};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, CacheMeta, Storage};
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorType, Result};

use super::key::KeyParts;

/// Store-side counters, read by `/metrics`.
#[derive(Default)]
pub struct StoreStats {
    /// Objects dropped to stay under the byte budget.
    pub evictions: AtomicU64,
    /// Objects removed by the purge API.
    pub purged: AtomicU64,
}

/// How many purges the store had run when a request's origin fetch began. Carried in the
/// fetched response's cache metadata (its extensions; misses only, so hits pay nothing) so a
/// fill that began before a purge is not stored after it: the purge wins over whatever was in
/// flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeEpoch(u64);

/// A byte-bounded in-memory object store.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Purges run so far; written under `inner`'s lock.
    purges: AtomicU64,
    max_bytes: usize,
    max_object_bytes: usize,
    /// Eviction and purge counters.
    pub stats: StoreStats,
}

struct Inner {
    objects: LruCache<HashBinary, Arc<Object>>,
    bytes: usize,
}

/// One stored response: the parts of its [`CacheMeta`] and its body chunks.
struct Object {
    header: ResponseHeader,
    fresh_until: SystemTime,
    updated: SystemTime,
    stale_while_revalidate: u32,
    stale_if_error: u32,
    variance: Option<HashBinary>,
    body: Vec<Bytes>,
    /// Host and path, for purges by path or prefix.
    host: String,
    path: String,
    /// What the object counts against the budget.
    weight: usize,
}

impl Object {
    fn meta(&self) -> CacheMeta {
        let mut meta = CacheMeta::new(
            self.fresh_until,
            self.updated,
            self.stale_while_revalidate,
            self.stale_if_error,
            self.header.clone(),
        );
        if let Some(v) = self.variance {
            meta.set_variance(v);
        }
        meta
    }

    /// An object holding `meta`'s parts, with an empty body.
    fn from_meta(meta: &CacheMeta, host: String, path: String) -> Object {
        Object {
            header: meta.response_header_copy(),
            fresh_until: meta.fresh_until(),
            updated: meta.updated(),
            stale_while_revalidate: meta.stale_while_revalidate_sec(),
            stale_if_error: meta.stale_if_error_sec(),
            variance: meta.variance(),
            body: Vec::new(),
            host,
            path,
            weight: header_weight(meta.response_header()),
        }
    }

    /// This object's body under new metadata (a revalidation).
    fn with_meta(&self, meta: &CacheMeta) -> Object {
        let mut object = Object::from_meta(meta, self.host.clone(), self.path.clone());
        object.body = self.body.clone();
        object.weight = self.weight;
        object
    }
}

/// Which objects a purge removes.
#[derive(Debug, Clone)]
pub enum PurgeScope {
    /// Objects whose path is exactly this one.
    Path(String),
    /// Objects whose path starts with this.
    Prefix(String),
}

impl MemoryStore {
    /// A store holding at most `max_bytes`, refusing objects over `max_object_bytes`.
    pub fn new(max_bytes: usize, max_object_bytes: usize) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner {
                objects: LruCache::unbounded(),
                bytes: 0,
            }),
            purges: AtomicU64::new(0),
            max_bytes,
            max_object_bytes,
            stats: StoreStats::default(),
        }
    }

    /// The purge epoch now, for a fetch about to begin.
    pub fn purge_epoch(&self) -> PurgeEpoch {
        PurgeEpoch(self.purges.load(Ordering::Acquire))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that
        // matters more than losing the cache, so a poisoned lock is simply taken over.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes currently stored (bodies plus headers).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Objects currently stored.
    pub fn objects(&self) -> usize {
        self.lock().objects.len()
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Removes every object of `host` (any host when `None`) in `scope`; returns how many.
    pub fn purge_matching(&self, host: Option<&str>, scope: &PurgeScope) -> usize {
        let mut inner = self.lock();
        // Every fill in flight began before this purge: none of them will be stored.
        self.purges.fetch_add(1, Ordering::AcqRel);
        let doomed: Vec<HashBinary> = inner
            .objects
            .iter()
            .filter(|(_, o)| host.is_none_or(|h| o.host.eq_ignore_ascii_case(h)))
            .filter(|(_, o)| match scope {
                PurgeScope::Path(p) => o.path == *p,
                PurgeScope::Prefix(p) => o.path.starts_with(p.as_str()),
            })
            .map(|(k, _)| *k)
            .collect();
        for key in &doomed {
            if let Some(o) = inner.objects.pop(key) {
                inner.bytes -= o.weight;
            }
        }
        self.stats
            .purged
            .fetch_add(doomed.len() as u64, Ordering::Relaxed);
        doomed.len()
    }

    /// Stores `object` (unless a purge ran since its fetch began at `epoch`), then evicts least
    /// recently used objects until under budget. Returns whether it was stored.
    fn insert(&self, key: HashBinary, object: Object, epoch: Option<PurgeEpoch>) -> bool {
        let mut inner = self.lock();
        if epoch.is_some_and(|e| e != self.purge_epoch()) {
            return false;
        }
        if let Some(old) = inner.objects.pop(&key) {
            inner.bytes -= old.weight;
        }
        let mut evicted = 0;
        while inner.bytes + object.weight > self.max_bytes {
            match inner.objects.pop_lru() {
                Some((_, o)) => {
                    inner.bytes -= o.weight;
                    evicted += 1;
                }
                None => break,
            }
        }
        inner.bytes += object.weight;
        inner.objects.put(key, Arc::new(object));
        self.stats.evictions.fetch_add(evicted, Ordering::Relaxed);
        true
    }
}

/// What an object counts against the budget: its body and an estimate of its header.
fn header_weight(header: &ResponseHeader) -> usize {
    64 + header
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
}

#[async_trait]
impl Storage for MemoryStore {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let object = self.lock().objects.get(&key.combined_bin()).cloned();
        Ok(object.map(|o| {
            let meta = o.meta();
            let end = o.body.iter().map(Bytes::len).sum();
            let hit: HitHandler = Box::new(MemoryHit {
                object: o,
                next: 0,
                skip: 0,
                remaining: end,
            });
            (meta, hit)
        }))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let parts = KeyParts::parse(key.primary_key());
        Ok(Box::new(MemoryMiss {
            store: self,
            key: key.combined_bin(),
            epoch: meta.extensions().get::<PurgeEpoch>().copied(),
            object: Object::from_meta(meta, parts.host.to_string(), parts.path.to_string()),
            too_large: false,
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let key = target.key().combined_bin();
        let mut inner = self.lock();
        match inner.objects.pop(&key) {
            Some(o) => {
                inner.bytes -= o.weight;
                if matches!(purge_type, PurgeType::Eviction) {
                    self.stats.evictions.fetch_add(1, Ordering::Relaxed);
                }
                Ok(PurgeOutcome::Purged(None))
            }
            None => Ok(PurgeOutcome::NotFound),
        }
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let key = key.combined_bin();
        let mut inner = self.lock();
        let Some(old) = inner.objects.peek(&key).cloned() else {
            return Ok(false);
        };
        let updated = old.with_meta(meta);
        inner.objects.put(key, Arc::new(updated));
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

/// Reads one stored object, whole or a byte range of it.
struct MemoryHit {
    object: Arc<Object>,
    /// Index of the next chunk to return.
    next: usize,
    /// Bytes to skip at the start of the next chunk (range start).
    skip: usize,
    /// Bytes left to return (range end).
    remaining: usize,
}

#[async_trait]
impl HandleHit for MemoryHit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        while self.remaining > 0 {
            let Some(chunk) = self.object.body.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            if self.skip >= chunk.len() {
                self.skip -= chunk.len();
                continue;
            }
            let end = (self.skip + self.remaining).min(chunk.len());
            let piece = chunk.slice(self.skip..end);
            self.skip = 0;
            self.remaining -= piece.len();
            return Ok(Some(piece));
        }
        Ok(None)
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        let len: usize = self.object.body.iter().map(Bytes::len).sum();
        if start >= len {
            return Error::e_explain(
                ErrorType::InternalError,
                format!("seek start {start} beyond object length {len}"),
            );
        }
        let end = end.unwrap_or(len).min(len);
        self.next = 0;
        self.skip = start;
        self.remaining = end.saturating_sub(start);
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.object.weight
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// Collects one response's body as it streams past, and stores it when complete.
struct MemoryMiss {
    store: &'static MemoryStore,
    key: HashBinary,
    /// When the fetch began, if the key carried it.
    epoch: Option<PurgeEpoch>,
    object: Object,
    too_large: bool,
}

#[async_trait]
impl HandleMiss for MemoryMiss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        if self.too_large {
            return Ok(());
        }
        self.object.weight += data.len();
        if self.object.weight > self.store.max_object_bytes {
            self.too_large = true;
            self.object.body = Vec::new();
            return Ok(());
        }
        if !data.is_empty() {
            self.object.body.push(data);
        }
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        if self.too_large {
            return Error::e_explain(
                ErrorType::InternalError,
                "object larger than cache.max-object-bytes; not stored",
            );
        }
        let size = self.object.weight;
        let mut object = self.object;
        if object.body.len() > 1 {
            // One contiguous body: a hit is then written with as few writes as the socket takes,
            // instead of one per chunk the origin happened to send. The copy is paid once per
            // stored object, not per hit.
            let total = object.body.iter().map(Bytes::len).sum();
            let mut whole = bytes::BytesMut::with_capacity(total);
            for chunk in &object.body {
                whole.extend_from_slice(chunk);
            }
            object.body = vec![whole.freeze()];
        }
        if !self.store.insert(self.key, object, self.epoch) {
            return Error::e_explain(
                ErrorType::InternalError,
                "a purge ran while the object was fetched; not stored",
            );
        }
        Ok(MissFinishType::Created(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::cache::trace::Span;

    fn meta() -> CacheMeta {
        let header = ResponseHeader::build(200, None).unwrap();
        let now = SystemTime::now();
        CacheMeta::new(now + std::time::Duration::from_secs(60), now, 0, 0, header)
    }

    async fn put(store: &'static MemoryStore, path: &str, body: &[&'static [u8]]) -> CacheKey {
        let key = CacheKey::new(KeyParts::primary("http", "example.com", path, ""), "");
        let span = Span::inactive().handle();
        let mut miss = store.get_miss_handler(&key, &meta(), &span).await.unwrap();
        for chunk in body {
            miss.write_body(Bytes::from_static(chunk), false)
                .await
                .unwrap();
        }
        miss.finish().await.unwrap();
        key
    }

    async fn read_all(hit: &mut HitHandler) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = hit.read_body().await.unwrap() {
            out.extend_from_slice(&b);
        }
        out
    }

    #[tokio::test]
    async fn stores_chunks_and_reads_ranges_across_them() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(1 << 20, 1 << 20)));
        let key = put(store, "/a", &[b"hello ", b"cached ", b"world"]).await;
        let span = Span::inactive().handle();
        let (_, mut hit) = store.lookup(&key, &span).await.unwrap().unwrap();
        assert_eq!(read_all(&mut hit).await, b"hello cached world");
        let (_, mut hit) = store.lookup(&key, &span).await.unwrap().unwrap();
        hit.seek(4, Some(15)).unwrap();
        assert_eq!(read_all(&mut hit).await, b"o cached wo");
    }

    #[tokio::test]
    async fn evicts_least_recently_used_to_stay_under_budget() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(600, 600)));
        let body: &'static [u8] = &[b'x'; 200];
        let a = put(store, "/a", &[body]).await;
        put(store, "/b", &[body]).await;
        let span = Span::inactive().handle();
        assert!(store.lookup(&a, &span).await.unwrap().is_some()); // /a is now most recent
        put(store, "/c", &[body]).await;
        assert!(store.bytes() <= 600, "{} bytes stored", store.bytes());
        assert_eq!(store.stats.evictions.load(Ordering::Relaxed), 1);
        assert!(store.lookup(&a, &span).await.unwrap().is_some());
        assert_eq!(store.objects(), 2);
    }

    #[tokio::test]
    async fn refuses_objects_over_the_object_limit() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(4096, 300)));
        let key = CacheKey::new(KeyParts::primary("http", "example.com", "/big", ""), "");
        let span = Span::inactive().handle();
        let mut miss = store.get_miss_handler(&key, &meta(), &span).await.unwrap();
        miss.write_body(Bytes::from(vec![0u8; 400]), true)
            .await
            .unwrap();
        assert!(miss.finish().await.is_err());
        assert_eq!(store.objects(), 0);
    }

    #[tokio::test]
    async fn a_purge_wins_over_a_fill_that_began_before_it() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(1 << 20, 1 << 20)));
        let span = Span::inactive().handle();
        let key = CacheKey::new(KeyParts::primary("http", "example.com", "/p", ""), "");
        let fetched = |epoch| {
            let mut meta = meta();
            meta.extensions_mut().insert(epoch);
            meta
        };
        let mut miss = store
            .get_miss_handler(&key, &fetched(store.purge_epoch()), &span)
            .await
            .unwrap();
        miss.write_body(Bytes::from_static(b"old"), true)
            .await
            .unwrap();
        store.purge_matching(None, &PurgeScope::Prefix("/".into()));
        assert!(miss.finish().await.is_err());
        assert!(store.lookup(&key, &span).await.unwrap().is_none());
        // A fetch that begins after the purge is stored as usual.
        let mut miss = store
            .get_miss_handler(&key, &fetched(store.purge_epoch()), &span)
            .await
            .unwrap();
        miss.write_body(Bytes::from_static(b"new"), true)
            .await
            .unwrap();
        miss.finish().await.unwrap();
        assert!(store.lookup(&key, &span).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn purges_by_path_and_prefix() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(1 << 20, 1 << 20)));
        put(store, "/img/a.png", &[b"a"]).await;
        put(store, "/img/b.png", &[b"b"]).await;
        put(store, "/index.html", &[b"i"]).await;
        let gone =
            store.purge_matching(Some("example.com"), &PurgeScope::Path("/img/a.png".into()));
        assert_eq!(gone, 1);
        assert_eq!(
            store.purge_matching(Some("other.test"), &PurgeScope::Prefix("/".into())),
            0
        );
        assert_eq!(
            store.purge_matching(None, &PurgeScope::Prefix("/img/".into())),
            1
        );
        assert_eq!(store.objects(), 1);
    }
}
