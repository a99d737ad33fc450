//! Named queues on JetStream: one subject per queue (`<stream>.queue.<name>`) in the
//! `<stream>_QUEUES` stream, read by sequence. A dead letter is stored with its event, so a
//! redrive can publish it to the events stream again.

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream;
use serde::{Deserialize, Serialize};

use super::{store, NatsQueue, Stored};
use crate::queue::event_store::{now_ms, DeadLetter, Message, QueueError};

/// A dead letter as a named-queue message: what operators read, and the event to redrive.
#[derive(Serialize, Deserialize)]
struct Letter {
    letter: String,
    event: Stored,
}

impl NatsQueue {
    fn subject_of(&self, queue: &str) -> String {
        format!(
            "{}.queue.{queue}",
            self.streams.events.cached_info().config.name
        )
    }

    /// Appends `body` to named queue `queue`; its sequence is its id.
    pub(super) async fn send_message(&self, queue: &str, body: Vec<u8>) -> Result<i64, QueueError> {
        self.append(queue, None, body).await
    }

    /// Appends a dead letter, wrapped with its event so a redrive can queue it again.
    pub(super) async fn send_letter(
        &self,
        queue: &str,
        letter: DeadLetter,
    ) -> Result<i64, QueueError> {
        let wrapped = Letter {
            letter: String::from_utf8_lossy(&letter.body).into_owned(),
            event: Stored::new(letter.event),
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Edge-Kind", "dead-letter");
        let body = serde_json::to_vec(&wrapped).expect("JSON");
        self.append(queue, Some(headers), body).await
    }

    /// Publishes `body` to `queue`'s subject and waits for the stream's acknowledgement.
    async fn append(
        &self,
        queue: &str,
        headers: Option<async_nats::HeaderMap>,
        body: Vec<u8>,
    ) -> Result<i64, QueueError> {
        let subject = self.subject_of(queue);
        self.on_client(|s| async move {
            let sent = match headers {
                Some(headers) => {
                    s.js.publish_with_headers(subject, headers, body.into())
                        .await
                }
                None => s.js.publish(subject, body.into()).await,
            };
            let ack = sent.map_err(store)?.await.map_err(store)?;
            Ok(ack.sequence as i64)
        })
        .await
    }

    /// Messages of `queue` after id `after`, dead letters shown as operators read them.
    pub(super) async fn read_messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Message>, QueueError> {
        let subject = self.subject_of(queue);
        let found = self
            .on_client(move |s| async move {
                scan(&s.queues, &subject, after.max(0) as u64 + 1, limit).await
            })
            .await?;
        Ok(found
            .into_iter()
            .map(|m| {
                let dead = m
                    .headers
                    .get("Edge-Kind")
                    .is_some_and(|v| v.as_str() == "dead-letter");
                let body = match serde_json::from_slice::<Letter>(&m.payload) {
                    Ok(l) if dead => l.letter.into_bytes(),
                    _ => m.payload.to_vec(),
                };
                Message {
                    id: m.sequence as i64,
                    body,
                    sent_ms: (m.time.unix_timestamp_nanos() / 1_000_000) as i64,
                }
            })
            .collect())
    }

    /// Purges `queue` up to and including sequence `through`.
    pub(super) async fn purge_messages(
        &self,
        queue: &str,
        through: i64,
    ) -> Result<usize, QueueError> {
        let subject = self.subject_of(queue);
        self.on_client(move |s| async move {
            let purged = s
                .queues
                .purge()
                .filter(subject)
                .sequence(through.max(0) as u64 + 1)
                .await
                .map_err(store)?;
            Ok(purged.purged as usize)
        })
        .await
    }

    /// Publishes each dead letter's event again and deletes the letter.
    pub(super) async fn redrive_letters(&self, queue: &str) -> Result<usize, QueueError> {
        let letters = self.dead_letters(queue).await?;
        let mut moved = 0;
        for (sequence, mut event) in letters {
            let now = now_ms();
            event.enqueued_ms = now;
            event.due_ms = now;
            event.published_ms = now;
            self.publish(event).await?;
            self.on_client(move |s| async move {
                s.queues.delete_message(sequence).await.map_err(store)
            })
            .await?;
            moved += 1;
        }
        if moved > 0 {
            self.wake.notify_one();
        }
        Ok(moved)
    }
    /// The dead letters of `queue`, by sequence.
    async fn dead_letters(&self, queue: &str) -> Result<Vec<(u64, Stored)>, QueueError> {
        let subject = self.subject_of(queue);
        let found = self
            .on_client(move |s| async move { scan(&s.queues, &subject, 1, usize::MAX).await })
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|m| {
                let letter = serde_json::from_slice::<Letter>(&m.payload).ok()?;
                Some((m.sequence, letter.event))
            })
            .collect())
    }
}

/// Up to `limit` messages of `subject` in `queues`, from sequence `from` on.
async fn scan(
    queues: &stream::Stream,
    subject: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<StreamMessage>, QueueError> {
    let mut out = Vec::new();
    let mut next = from;
    while out.len() < limit {
        let found = queues
            .raw_message_builder()
            .sequence(next)
            .next_by_subject(subject.to_string())
            .send()
            .await;
        match found {
            Ok(m) => {
                next = m.sequence + 1;
                out.push(m);
            }
            Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => break,
            Err(e) => return Err(store(e)),
        }
    }
    Ok(out)
}
