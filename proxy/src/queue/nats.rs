//! The queue in NATS JetStream, for a fleet: events go to a work-queue stream (`<stream>`,
//! subject `<stream>.event`) read by one durable pull consumer that every node shares, so an
//! event accepted by any node is processed by any node; named queues are a second stream
//! (`<stream>_QUEUES`, subjects `<stream>.queue.<name>`) read by sequence.
//!
//! A message is the whole event as JSON ([`Stored`]): attempts, back-offs, due time and the
//! last response travel with it. A retry or a back-off publishes the event's next state and
//! then acknowledges the current message (a crash between the two leaves a duplicate, never a
//! loss); a message fetched before it is due is handed back with a delay (JetStream 2.9 has no
//! scheduled delivery). A leased message's acknowledgement deadline (`ack-wait-ms`) is pushed
//! out while its invocation runs; a node that dies leaves its leases to be redelivered when it
//! passes.
//!
//! The client runs on a runtime of its own, so its connection does not depend on which of
//! Pingora's runtimes first used it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

mod named;

use super::event_store::{
    now_ms, DeadLetter, EventStore, Job, Message, NewEvent, QueueError, QueueStats,
};
use crate::config::{QueueBackend, QueueSettings};

/// The durable consumer every node shares.
const CONSUMER: &str = "edge-dispatcher";

/// An event as a message carries it.
#[derive(Serialize, Deserialize, Clone)]
struct Stored {
    origin: String,
    request_id: String,
    payload: String,
    enqueued_ms: i64,
    /// Attempts made before this message.
    attempts: u32,
    backoffs: u32,
    due_ms: i64,
    published_ms: i64,
    last_response: Option<String>,
    outcome: Option<String>,
}

impl Stored {
    fn new(event: NewEvent) -> Self {
        let now = now_ms();
        Stored {
            origin: event.origin,
            request_id: event.request_id,
            payload: String::from_utf8_lossy(&event.payload).into_owned(),
            enqueued_ms: now,
            attempts: 0,
            backoffs: 0,
            due_ms: now,
            published_ms: now,
            last_response: None,
            outcome: None,
        }
    }
}

/// A message taken for an attempt, until acknowledged.
struct Lease {
    message: jetstream::Message,
    stored: Stored,
}

/// What the client's runtime works with.
struct Streams {
    js: jetstream::Context,
    events: stream::Stream,
    queues: stream::Stream,
    consumer: consumer::Consumer<consumer::pull::Config>,
    subject: String,
}

/// The queue in JetStream.
pub struct NatsQueue {
    /// Always `Some` until dropped (then shut down without blocking: the last reference may
    /// go inside an async task).
    runtime: Option<tokio::runtime::Runtime>,
    streams: Arc<Streams>,
    leases: Arc<Mutex<HashMap<i64, Lease>>>,
    next_lease: AtomicI64,
    wake: Arc<Notify>,
    location: String,
}

fn store<E: std::fmt::Display>(e: E) -> QueueError {
    QueueError::Store(e.to_string())
}

impl NatsQueue {
    /// Connects to the server and makes sure both streams and the consumer exist, sized by
    /// the settings.
    pub fn open(settings: &QueueSettings) -> anyhow::Result<Self> {
        let QueueBackend::Nats {
            url,
            stream,
            ack_wait,
        } = &settings.backend
        else {
            anyhow::bail!("queue: not a NATS queue");
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("event-queue-nats")
            .enable_all()
            .build()?;
        let (url, name, ack_wait) = (url.clone(), stream.clone(), *ack_wait);
        let (max_events, max_bytes) = (settings.max_events, settings.max_bytes);
        let streams = runtime.block_on(async move {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(5))
                .connect(&url)
                .await
                .map_err(|e| anyhow::anyhow!("queue: cannot connect to {url}: {e}"))?;
            let js = jetstream::new(client);
            let subject = format!("{name}.event");
            let events = js
                .get_or_create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![subject.clone()],
                    retention: stream::RetentionPolicy::WorkQueue,
                    storage: stream::StorageType::File,
                    max_messages: max_events as i64,
                    max_bytes: max_bytes as i64,
                    discard: stream::DiscardPolicy::New,
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("queue: stream {name} on {url}: {e}"))?;
            let queues = js
                .get_or_create_stream(stream::Config {
                    name: format!("{name}_QUEUES"),
                    subjects: vec![format!("{name}.queue.*")],
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("queue: stream {name}_QUEUES on {url}: {e}"))?;
            let consumer = events
                .get_or_create_consumer(
                    CONSUMER,
                    consumer::pull::Config {
                        durable_name: Some(CONSUMER.into()),
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("queue: consumer on {name}: {e}"))?;
            anyhow::Ok(Streams {
                js,
                events,
                queues,
                consumer,
                subject,
            })
        })?;
        let leases: Arc<Mutex<HashMap<i64, Lease>>> = Arc::default();
        runtime.spawn(keep_leases(leases.clone(), ack_wait));
        Ok(NatsQueue {
            location: format!("{} (stream {})", settings_url(settings), stream),
            runtime: Some(runtime),
            streams: Arc::new(streams),
            leases,
            next_lease: AtomicI64::new(1),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Runs `f` on the client's runtime.
    async fn on_client<T, F>(&self, f: impl FnOnce(Arc<Streams>) -> F) -> Result<T, QueueError>
    where
        F: std::future::Future<Output = Result<T, QueueError>> + Send + 'static,
        T: Send + 'static,
    {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the queue")
            .spawn(f(self.streams.clone()))
            .await
            .map_err(store)?
    }

    /// Publishes `stored` as the event's next state.
    async fn publish(&self, stored: Stored) -> Result<(), QueueError> {
        let body = serde_json::to_vec(&stored).expect("JSON");
        self.on_client(|s| async move {
            let ack =
                s.js.publish(s.subject.clone(), body.into())
                    .await
                    .map_err(store)?;
            ack.await.map(drop).map_err(|e| {
                let text = e.to_string();
                if text.contains("maximum") && !text.contains("payload") {
                    QueueError::Full(text)
                } else {
                    QueueError::Store(text)
                }
            })
        })
        .await
    }

    /// Publishes the leased event's next state (`change` applied), then acknowledges its
    /// current message.
    async fn replace(&self, id: i64, change: impl FnOnce(&mut Stored)) -> Result<(), QueueError> {
        let Some(lease) = self.leases.lock().expect("lease lock").remove(&id) else {
            return Err(QueueError::Store(format!("no event leased as {id}")));
        };
        let mut next = lease.stored.clone();
        change(&mut next);
        next.published_ms = now_ms();
        self.publish(next).await?;
        self.ack(lease.message).await
    }

    async fn ack(&self, message: jetstream::Message) -> Result<(), QueueError> {
        self.on_client(|_| async move { message.double_ack().await.map_err(store) })
            .await
    }
}

impl Drop for NatsQueue {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn settings_url(settings: &QueueSettings) -> String {
    match &settings.backend {
        QueueBackend::Nats { url, .. } => url.clone(),
        QueueBackend::Sqlite { dir } => dir.display().to_string(),
    }
}

/// Tells the server every leased message is still being worked on, a third of `ack_wait` at a
/// time, so a long invocation keeps its lease while a dead node's leases pass.
async fn keep_leases(leases: Arc<Mutex<HashMap<i64, Lease>>>, ack_wait: Duration) {
    loop {
        tokio::time::sleep(ack_wait / 3).await;
        let messages: Vec<jetstream::Message> = leases
            .lock()
            .expect("lease lock")
            .values()
            .map(|l| l.message.clone())
            .collect();
        for m in messages {
            let _ = m.ack_with(AckKind::Progress).await;
        }
    }
}

#[async_trait]
impl EventStore for NatsQueue {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    async fn enqueue(&self, event: NewEvent) -> Result<i64, QueueError> {
        self.publish(Stored::new(event)).await?;
        self.wake.notify_one();
        Ok(0)
    }

    async fn lease(&self, limit: usize) -> Result<Vec<Job>, QueueError> {
        let fetched: Vec<jetstream::Message> = self
            .on_client(move |s| async move {
                let mut batch = s
                    .consumer
                    .fetch()
                    .max_messages(limit)
                    .expires(Duration::from_millis(100))
                    .messages()
                    .await
                    .map_err(store)?;
                let mut out = Vec::new();
                while let Some(m) = batch.next().await {
                    out.push(m.map_err(store)?);
                }
                Ok(out)
            })
            .await?;
        let now = now_ms();
        let mut jobs = Vec::with_capacity(fetched.len());
        for message in fetched {
            let Ok(stored) = serde_json::from_slice::<Stored>(&message.payload) else {
                tracing::error!("event queue: a message that is not an event; dropped");
                let _ = self.ack(message).await;
                continue;
            };
            if stored.due_ms > now {
                let wait = Duration::from_millis((stored.due_ms - now) as u64 + 20);
                let _ = self
                    .on_client(|_| async move {
                        message
                            .ack_with(AckKind::Nak(Some(wait)))
                            .await
                            .map_err(store)
                    })
                    .await;
                continue;
            }
            let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
            let delayed = i64::from(stored.due_ms > stored.published_ms);
            let id = self.next_lease.fetch_add(1, Ordering::Relaxed);
            jobs.push(Job {
                id,
                origin: stored.origin.clone(),
                request_id: stored.request_id.clone(),
                payload: stored.payload.clone().into_bytes(),
                enqueued_ms: stored.enqueued_ms,
                // Every delivery but a hand-back before the due time was an attempt: one
                // cut short by a dead node counts, as SQLite counts it.
                attempts: stored.attempts
                    + if stored.outcome.is_none() {
                        (delivered - delayed).max(1) as u32
                    } else {
                        0
                    },
                outcome: stored.outcome.clone().map(String::into_bytes),
                redelivered: stored.outcome.is_none() && delivered > 1 + delayed,
                backoffs: stored.backoffs,
                last_response: stored.last_response.clone().map(String::into_bytes),
            });
            self.leases
                .lock()
                .expect("lease lock")
                .insert(id, Lease { message, stored });
        }
        Ok(jobs)
    }

    async fn retry(&self, id: i64, due_ms: i64, last_response: Vec<u8>) -> Result<(), QueueError> {
        self.replace(id, |s| {
            s.attempts += 1;
            s.due_ms = due_ms;
            s.last_response = Some(String::from_utf8_lossy(&last_response).into_owned());
        })
        .await
    }

    async fn back_off(&self, id: i64, due_ms: i64) -> Result<(), QueueError> {
        self.replace(id, |s| {
            s.backoffs += 1;
            s.due_ms = due_ms;
        })
        .await
    }

    async fn release(&self, id: i64, due_ms: i64) -> Result<(), QueueError> {
        self.replace(id, |s| s.due_ms = due_ms).await
    }

    async fn decide(&self, id: i64, outcome: Vec<u8>) -> Result<(), QueueError> {
        // Kept with the lease: a release publishes it. A node that dies before delivering it
        // leaves the event to be attempted again (at least once).
        let mut leases = self.leases.lock().expect("lease lock");
        let Some(lease) = leases.get_mut(&id) else {
            return Err(QueueError::Store(format!("no event leased as {id}")));
        };
        lease.stored.attempts += u32::from(lease.stored.outcome.is_none());
        lease.stored.outcome = Some(String::from_utf8_lossy(&outcome).into_owned());
        Ok(())
    }

    async fn complete(&self, id: i64) -> Result<(), QueueError> {
        let Some(lease) = self.leases.lock().expect("lease lock").remove(&id) else {
            return Ok(());
        };
        self.ack(lease.message).await
    }

    async fn send(&self, queue: &str, body: Vec<u8>) -> Result<i64, QueueError> {
        self.send_message(queue, body).await
    }

    async fn send_dead_letter(&self, queue: &str, letter: DeadLetter) -> Result<i64, QueueError> {
        self.send_letter(queue, letter).await
    }

    async fn messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Message>, QueueError> {
        self.read_messages(queue, after, limit).await
    }

    async fn delete_messages(&self, queue: &str, through: i64) -> Result<usize, QueueError> {
        self.purge_messages(queue, through).await
    }

    async fn redrive(&self, queue: &str) -> Result<usize, QueueError> {
        self.redrive_letters(queue).await
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.on_client(|s| async move {
            let events = s.events.get_info().await.map_err(store)?;
            let queues = s.queues.get_info().await.map_err(store)?;
            let in_flight = s
                .consumer
                .clone()
                .info()
                .await
                .map_err(store)?
                .num_ack_pending;
            let oldest_ms = if events.state.messages == 0 {
                None
            } else {
                s.events
                    .get_raw_message(events.state.first_sequence)
                    .await
                    .ok()
                    .and_then(|m| serde_json::from_slice::<Stored>(&m.payload).ok())
                    .map(|e| e.enqueued_ms)
            };
            Ok(QueueStats {
                events: events.state.messages,
                in_flight: in_flight as u64,
                bytes: events.state.bytes,
                oldest_ms,
                messages: queues.state.messages,
            })
        })
        .await
    }
}
