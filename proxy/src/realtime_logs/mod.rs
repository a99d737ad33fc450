//! Real-time logs, as CloudFront sends them to Kinesis and an event source mapping delivers
//! them to Lambda: a sample of requests becomes records (`edge/realtime_log.rs` writes the
//! fields), handed to the [`LogSink`]; the batcher groups them (`batch-size` records or
//! `batch-window-ms`) and queues each batch in this node's named queue, where it survives a
//! restart; the shipper (`shipper.rs`) delivers the batches in order, one at a time, as Kinesis
//! events (`kinesis.rs`) to the function, retrying a failed batch, splitting it in two when
//! asked, and reporting a discarded one to the on-failure destination.

mod kinesis;
mod shipper;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::mpsc;

use crate::node::Node;
use crate::observe::Metrics;
use crate::queue::{now_ms, EventQueue};
use kinesis::{queue_name, Batch, Record};

/// Records waiting for the batcher at most; more are dropped (and counted) rather than slow
/// requests down.
const BUFFER: usize = 65_536;

/// Where the request path hands its log records.
pub struct LogSink {
    sender: mpsc::Sender<Record>,
    sequence: AtomicU64,
    /// Sequence numbers start from the process's start time, so they keep increasing across
    /// restarts.
    epoch_ms: i64,
    metrics: Arc<Metrics>,
}

impl LogSink {
    /// Offers one record (its fields, tab-separated, newline-terminated).
    pub fn offer(&self, data: String) {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let record = Record {
            sequence_number: format!("{}{n:012}", self.epoch_ms),
            arrival_ms: now_ms(),
            data,
        };
        let result = match self.sender.try_send(record) {
            Ok(()) => "sampled",
            Err(_) => "dropped",
        };
        self.metrics
            .events
            .realtime_records
            .with_label_values(&[result])
            .inc();
    }
}

/// The batcher and the shipper: a Pingora background service.
pub struct RealtimeLogService {
    receiver: Mutex<Option<mpsc::Receiver<Record>>>,
    node: Arc<Node>,
    queue: Arc<EventQueue>,
    metrics: Arc<Metrics>,
}

/// The sink for the request path and the service that drains it into the queue and ships it.
pub fn start(
    node: Arc<Node>,
    queue: Arc<EventQueue>,
    metrics: Arc<Metrics>,
) -> (Arc<LogSink>, RealtimeLogService) {
    let (sender, receiver) = mpsc::channel(BUFFER);
    let sink = LogSink {
        sender,
        sequence: AtomicU64::new(0),
        epoch_ms: now_ms(),
        metrics: metrics.clone(),
    };
    let service = RealtimeLogService {
        receiver: Mutex::new(Some(receiver)),
        node,
        queue,
        metrics,
    };
    (Arc::new(sink), service)
}

#[async_trait]
impl BackgroundService for RealtimeLogService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(receiver) = self.receiver.lock().expect("receiver lock").take() else {
            return;
        };
        tokio::select! {
            _ = self.batch(receiver) => {}
            _ = shipper::run(&self.node, &self.queue, &self.metrics) => {}
            _ = shutdown.changed() => {}
        }
    }
}

impl RealtimeLogService {
    /// Groups records into batches of `batch-size`, or whatever arrived within `batch-window-ms`
    /// of a batch's first record, and queues each.
    async fn batch(&self, mut receiver: mpsc::Receiver<Record>) {
        let mut records = Vec::new();
        let mut deadline = None;
        loop {
            let generation = self.node.current();
            let Some(settings) = &generation.config.realtime_logs else {
                // Turned off by a reload: what is still arriving is dropped.
                if receiver.recv().await.is_none() {
                    return;
                }
                continue;
            };
            let node = generation.config.node.name.clone();
            let full = tokio::select! {
                record = receiver.recv() => match record {
                    Some(record) => {
                        if records.is_empty() {
                            deadline = Some(tokio::time::Instant::now() + settings.batch_window);
                        }
                        records.push(record);
                        records.len() >= settings.batch_size
                    }
                    None => return,
                },
                _ = sleep_until(deadline) => true,
            };
            if full && !records.is_empty() {
                deadline = None;
                let batch = Batch {
                    records: std::mem::take(&mut records),
                    node: node.clone(),
                };
                let body = serde_json::to_vec(&batch).expect("JSON");
                if let Err(e) = self.queue.send(&queue_name(&node), body).await {
                    tracing::error!(error = %e, records = batch.records.len(), "real-time logs: batch lost, the queue refused it");
                }
                self.metrics
                    .events
                    .realtime_batches
                    .with_label_values(&["queued"])
                    .inc();
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
