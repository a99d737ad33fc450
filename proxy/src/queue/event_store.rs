//! What every queue store is and handles: events, jobs, messages, and the [`EventStore`]
//! operations on them.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

/// The node's event queue, whichever store holds it.
pub type EventQueue = dyn EventStore;

/// What a queue store does. Ids name an event while it is leased (`lease` to `complete`,
/// `retry`, `back_off` or `release`), and messages of named queues.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Where the queue lives, for the log.
    fn location(&self) -> String;

    /// Woken whenever an event becomes due at once (queued or redriven) on this node.
    fn wake(&self) -> Arc<Notify>;

    /// Queues `event`, due now; returns once it is stored.
    async fn enqueue(&self, event: NewEvent) -> Result<i64, QueueError>;

    /// Takes up to `limit` due events; each is in flight until completed, retried or released.
    /// An event without an outcome counts one more attempt.
    async fn lease(&self, limit: usize) -> Result<Vec<Job>, QueueError>;

    /// Schedules a leased event's next attempt at `due_ms` after a function error, keeping
    /// what the failed attempt answered (a later failure record reports it).
    async fn retry(&self, id: i64, due_ms: i64, last_response: Vec<u8>) -> Result<(), QueueError>;

    /// Puts back an event whose attempt did not reach the function (throttled, endpoint
    /// down): the attempt is not counted, the back-off count grows.
    async fn back_off(&self, id: i64, due_ms: i64) -> Result<(), QueueError>;

    /// Puts a leased event back as it was before the lease (its attempt not counted), due at
    /// `due_ms`: a delivery to try again, an event whose origin is gone.
    async fn release(&self, id: i64, due_ms: i64) -> Result<(), QueueError>;

    /// Records a leased event's outcome, delivered next (and again after a release).
    async fn decide(&self, id: i64, outcome: Vec<u8>) -> Result<(), QueueError>;

    /// Removes an event whose outcome was delivered.
    async fn complete(&self, id: i64) -> Result<(), QueueError>;

    /// Appends a message (a destination record) to named queue `queue`.
    async fn send(&self, queue: &str, body: Vec<u8>) -> Result<i64, QueueError>;

    /// Appends a dead letter to named queue `queue`; a redrive queues its event again.
    async fn send_dead_letter(&self, queue: &str, letter: DeadLetter) -> Result<i64, QueueError>;

    /// Up to `limit` messages of `queue` with an id above `after`, oldest first.
    async fn messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Message>, QueueError>;

    /// Deletes the messages of `queue` up to and including id `through`; how many went.
    async fn delete_messages(&self, queue: &str, through: i64) -> Result<usize, QueueError>;

    /// Queues the events of `queue`'s dead letters again (due now, their age starting over, as
    /// a new event) and removes those letters; other messages stay. How many were redriven.
    async fn redrive(&self, queue: &str) -> Result<usize, QueueError>;

    /// What the queue holds now.
    async fn stats(&self) -> Result<QueueStats, QueueError>;
}

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
