//! The durable queue behind event invocations: events waiting for (another) attempt, and named
//! queues of messages (destination records, dead letters) an operator reads and redrives.
//!
//! An event is on disk before the viewer gets its 202 and leaves the queue only when its
//! outcome has been delivered, so every accepted event is processed at least once, across
//! crashes and restarts. `sqlite.rs` is the store: one SQLite database in the data directory,
//! written by one thread that commits whatever arrived together in one transaction.

mod sqlite;

pub use sqlite::EventQueue;

/// An event to queue for `origin`.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The event origin (target group) that will invoke its function.
    pub origin: String,
    /// The request's id, kept across retries and restarts so functions can deduplicate.
    pub request_id: String,
    /// The event JSON the function gets.
    pub payload: Vec<u8>,
}

/// An event taken from the queue for an attempt (or for delivering its decided outcome).
#[derive(Debug, Clone)]
pub struct Job {
    /// Its row.
    pub id: i64,
    /// Its event origin.
    pub origin: String,
    /// The viewer request's id.
    pub request_id: String,
    /// The event JSON.
    pub payload: Vec<u8>,
    /// When the viewer's request was accepted (ms since the Unix epoch).
    pub enqueued_ms: i64,
    /// Attempts started so far, this one included when `outcome` is `None`.
    pub attempts: u32,
    /// An outcome decided earlier whose delivery is still owed.
    pub outcome: Option<Vec<u8>>,
    /// The previous attempt was in flight when the process stopped: it may have run.
    pub redelivered: bool,
    /// Times the event went back to the queue without reaching the function.
    pub backoffs: u32,
    /// What the last failed attempt answered (its response context and payload).
    pub last_response: Option<Vec<u8>>,
}

/// A message of a named queue.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its id (increasing).
    pub id: i64,
    /// The JSON body.
    pub body: Vec<u8>,
    /// When it was sent (ms since the Unix epoch).
    pub sent_ms: i64,
}

/// A dead letter: the event itself, which a redrive queues again for its origin.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The event as it was queued.
    pub event: NewEvent,
    /// The JSON body operators read (the event and its error attributes).
    pub body: Vec<u8>,
}

/// What the queue holds, for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Events waiting or in flight.
    pub events: u64,
    /// Events taken for an attempt or a delivery right now.
    pub in_flight: u64,
    /// Bytes of the queued events' payloads.
    pub bytes: u64,
    /// When the oldest queued event was accepted (ms since the Unix epoch).
    pub oldest_ms: Option<i64>,
    /// Messages in named queues.
    pub messages: u64,
}

/// Why an event was not queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// `max-events` or `max-bytes` reached: the viewer gets 503 and may retry.
    #[error("the event queue is full ({0})")]
    Full(String),
    /// The store failed (disk full, I/O error): the viewer gets 503.
    #[error("the event queue's store failed: {0}")]
    Store(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
