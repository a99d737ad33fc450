//! The validated settings of asynchronous work: how a function origin is invoked and where its
//! outcomes go, the queue that holds events, and real-time logs.

use std::path::PathBuf;
use std::time::Duration;

use super::log_field::LogField;

/// How a function origin invokes its function (Lambda's `InvocationType`).
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The viewer waits for the result (`RequestResponse`, the ALB's way).
    RequestResponse,
    /// The event is queued durably, the viewer gets 202, and the function runs later with
    /// Lambda's retries and destinations (`Event`).
    Event(EventInvokeConfig),
}

/// Lambda's event invoke configuration (`PutFunctionEventInvokeConfig`) and destinations.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInvokeConfig {
    /// `MaximumRetryAttempts`: retries after a function error (0–2, default 2).
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds`: an event older than this goes to the failure path.
    pub maximum_event_age: Duration,
    /// Wait before each retry: Lambda's 1 min then 2 min by default; the last repeats.
    pub retry_delays: Vec<Duration>,
    /// Where a success record goes.
    pub on_success: Option<Destination>,
    /// Where a failure record (retries exhausted, event too old) goes.
    pub on_failure: Option<Destination>,
    /// Where the failed event itself goes, with `RequestID`, `ErrorCode`, `ErrorMessage`.
    pub dead_letter: Option<Destination>,
    /// `requestContext.functionArn` in records.
    pub function_arn: String,
}

/// Where an asynchronous invocation's record, or a dead letter, is delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    /// A `[functions.<name>]` component of the `lambda` world, invoked with the record.
    Function(String),
    /// An HTTP endpoint: the record is POSTed as JSON.
    Url(String),
    /// A named queue in the node's store, read and redriven through the admin listener.
    Queue(String),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Function(name) => write!(f, "function:{name}"),
            Destination::Url(url) => f.write_str(url),
            Destination::Queue(name) => write!(f, "queue:{name}"),
        }
    }
}

/// `[realtime-logs]`: which requests are logged, with which fields, and how batches reach the
/// function (Kinesis → Lambda's event source mapping settings).
#[derive(Debug, Clone, PartialEq)]
pub struct RealtimeLogs {
    /// A `lambda`-world function that gets the batches as a Kinesis event.
    pub function: String,
    /// Percent of requests logged (CloudFront's `SamplingRate`, 1–100).
    pub sampling_rate: u32,
    /// The fields of each record, in order.
    pub fields: Vec<LogField>,
    /// Records per batch at most (`BatchSize`).
    pub batch_size: usize,
    /// How long records wait for a batch to fill (`MaximumBatchingWindowInSeconds`).
    pub batch_window: Duration,
    /// Retries of a failed batch (`MaximumRetryAttempts`).
    pub maximum_retry_attempts: u32,
    /// How long the function may take per batch.
    pub timeout: Duration,
    /// Split a failing batch in two and retry each half (`BisectBatchOnFunctionError`).
    pub bisect_batch_on_function_error: bool,
    /// Where the record of a discarded batch goes.
    pub on_failure: Option<Destination>,
}

/// `[queue]`: the node's durable queue of events and named queues.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// Where the queue lives.
    pub backend: QueueBackend,
    /// Events (and queued messages) beyond which new events are refused (503).
    pub max_events: u64,
    /// Payload bytes beyond which new events are refused (503).
    pub max_bytes: u64,
    /// Invocations the dispatcher runs at once; 0 runs none here (an accepting-only node of a
    /// fleet whose other nodes invoke).
    pub concurrency: usize,
}

/// The queue's storage.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueBackend {
    /// An SQLite database in this directory (`events.db`), written before the viewer's 202.
    Sqlite {
        /// The data directory.
        dir: PathBuf,
    },
    /// NATS JetStream streams, shared by every node that names the same server and stream.
    Nats {
        /// The server, `nats://host:port`.
        url: String,
        /// The events stream's name (the named queues' stream adds `_QUEUES`).
        stream: String,
        /// How long a leased event stays leased without word from its node.
        ack_wait: Duration,
    },
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            backend: QueueBackend::Sqlite {
                dir: PathBuf::from("data"),
            },
            max_events: 100_000,
            max_bytes: 1 << 30,
            concurrency: 16,
        }
    }
}
