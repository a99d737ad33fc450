//! The queue in SQLite (WAL, `synchronous = FULL`): one writer thread owns the connection and
//! commits every operation that arrived while the previous commit ran in one transaction, so a
//! burst of 202s costs one fsync, not one each. Each operation runs in its own savepoint, so
//! one that fails leaves nothing half-written; its caller hears back only after the commit.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use tokio::sync::{oneshot, Notify};

use async_trait::async_trait;

use super::event_store::{
    now_ms, DeadLetter, EventStore, Job, Message, NewEvent, QueueError, QueueStats,
};
use crate::config::QueueSettings;

/// Operations committed together at most.
const BATCH: usize = 512;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    request_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    leased INTEGER NOT NULL DEFAULT 0,
    redelivered INTEGER NOT NULL DEFAULT 0,
    backoffs INTEGER NOT NULL DEFAULT 0,
    last_response BLOB,
    outcome BLOB
);
CREATE INDEX IF NOT EXISTS events_due ON events (leased, due_ms);
CREATE INDEX IF NOT EXISTS events_age ON events (enqueued_ms);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    sent_ms INTEGER NOT NULL,
    origin TEXT,
    request_id TEXT,
    payload BLOB
);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue, id);
";

/// Queued events' count and bytes, kept by the writer so a full queue is refused without a scan.
struct Totals {
    events: u64,
    bytes: u64,
    max_events: u64,
    max_bytes: u64,
}

impl Totals {
    fn read(conn: &Connection, settings: &QueueSettings) -> rusqlite::Result<Self> {
        let (events, bytes): (i64, i64) = conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(length(payload)), 0) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Totals {
            events: events as u64,
            bytes: bytes as u64,
            max_events: settings.max_events,
            max_bytes: settings.max_bytes,
        })
    }
}

type Done = Box<dyn FnOnce(Result<(), String>) + Send>;
type Op = Box<dyn FnOnce(&Transaction<'_>, &mut Totals) -> Done + Send>;

/// The queue in one SQLite database on this node.
pub struct SqliteQueue {
    ops: mpsc::Sender<Op>,
    wake: Arc<Notify>,
    path: PathBuf,
}

impl SqliteQueue {
    /// Opens (or creates) `events.db` in the settings' data directory. Events that were in
    /// flight when the previous process stopped are made due again and marked redelivered;
    /// their number is returned with the queue.
    pub fn open(settings: &QueueSettings) -> anyhow::Result<(Self, u64)> {
        let crate::config::QueueBackend::Sqlite { dir } = &settings.backend else {
            anyhow::bail!("queue: not an SQLite queue");
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("queue: creating {}: {e}", dir.display()))?;
        let path = dir.join("events.db");
        let (conn, recovered) = open_db(&path)
            .map_err(|e| anyhow::anyhow!("queue: opening {}: {e}", path.display()))?;
        let totals = Totals::read(&conn, settings)?;
        let (ops, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("event-queue".into())
            .spawn(move || writer(conn, receiver, totals))?;
        Ok((
            SqliteQueue {
                ops,
                wake: Arc::new(Notify::new()),
                path,
            },
            recovered,
        ))
    }

    /// Runs `f` on the writer thread inside the next transaction; its result once committed.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &mut Totals) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        let op: Op = Box::new(move |tx, totals| {
            let result = in_savepoint(tx, |tx| f(tx, totals));
            Box::new(move |committed: Result<(), String>| {
                let _ = reply.send(committed.map_err(QueueError::Store).and(result));
            })
        });
        let stopped = || QueueError::Store("the queue's writer thread stopped".into());
        self.ops.send(op).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[async_trait]
impl EventStore for SqliteQueue {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    async fn enqueue(&self, event: NewEvent) -> Result<i64, QueueError> {
        let id = self
            .run(move |tx, totals| {
                let len = event.payload.len() as u64;
                if totals.events >= totals.max_events {
                    return Err(QueueError::Full(format!(
                        "{} events, max-events {}",
                        totals.events, totals.max_events
                    )));
                }
                if totals.bytes + len > totals.max_bytes {
                    return Err(QueueError::Full(format!(
                        "{} bytes queued, max-bytes {}",
                        totals.bytes, totals.max_bytes
                    )));
                }
                let now = now_ms();
                tx.execute(
                    "INSERT INTO events (origin, request_id, payload, enqueued_ms, due_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![event.origin, event.request_id, event.payload, now],
                )
                .map_err(store)?;
                totals.events += 1;
                totals.bytes += len;
                Ok(tx.last_insert_rowid())
            })
            .await?;
        self.wake.notify_one();
        Ok(id)
    }

    async fn lease(&self, limit: usize) -> Result<Vec<Job>, QueueError> {
        self.run(move |tx, _| {
            let mut select = tx
                .prepare_cached(
                    "SELECT id, origin, request_id, payload, enqueued_ms, attempts, outcome, \
                     redelivered, backoffs, last_response FROM events WHERE leased = 0 AND due_ms <= ?1 \
                     ORDER BY due_ms, id LIMIT ?2",
                )
                .map_err(store)?;
            let jobs: Vec<Job> = select
                .query_map(params![now_ms(), limit as i64], |r| {
                    Ok(Job {
                        id: r.get(0)?,
                        origin: r.get(1)?,
                        request_id: r.get(2)?,
                        payload: r.get(3)?,
                        enqueued_ms: r.get(4)?,
                        attempts: r.get::<_, i64>(5)? as u32,
                        outcome: r.get(6)?,
                        redelivered: r.get::<_, i64>(7)? != 0,
                        backoffs: r.get::<_, i64>(8)? as u32,
                        last_response: r.get(9)?,
                    })
                })
                .map_err(store)?
                .collect::<Result<_, _>>()
                .map_err(store)?;
            let mut attempt = tx
                .prepare_cached(
                    "UPDATE events SET leased = 1, redelivered = 0, attempts = attempts + 1 \
                     WHERE id = ?1",
                )
                .map_err(store)?;
            let mut deliver = tx
                .prepare_cached("UPDATE events SET leased = 1 WHERE id = ?1")
                .map_err(store)?;
            let mut leased = Vec::with_capacity(jobs.len());
            for mut job in jobs {
                if job.outcome.is_none() {
                    attempt.execute([job.id]).map_err(store)?;
                    job.attempts += 1;
                } else {
                    deliver.execute([job.id]).map_err(store)?;
                }
                leased.push(job);
            }
            Ok(leased)
        })
        .await
    }

    async fn retry(&self, id: i64, due_ms: i64, last_response: Vec<u8>) -> Result<(), QueueError> {
        self.run(move |tx, _| {
            tx.execute(
                "UPDATE events SET leased = 0, due_ms = ?2, last_response = ?3 WHERE id = ?1",
                params![id, due_ms, last_response],
            )
            .map(drop)
            .map_err(store)
        })
        .await
    }

    async fn back_off(&self, id: i64, due_ms: i64) -> Result<(), QueueError> {
        self.run(move |tx, _| {
            tx.execute(
                "UPDATE events SET leased = 0, due_ms = ?2, attempts = attempts - 1, \
                 backoffs = backoffs + 1 WHERE id = ?1",
                params![id, due_ms],
            )
            .map(drop)
            .map_err(store)
        })
        .await
    }

    async fn release(&self, id: i64, due_ms: i64) -> Result<(), QueueError> {
        self.run(move |tx, _| {
            tx.execute(
                "UPDATE events SET leased = 0, due_ms = ?2, \
                 attempts = attempts - (outcome IS NULL) WHERE id = ?1",
                params![id, due_ms],
            )
            .map(drop)
            .map_err(store)
        })
        .await
    }

    async fn decide(&self, id: i64, outcome: Vec<u8>) -> Result<(), QueueError> {
        self.run(move |tx, _| {
            tx.execute(
                "UPDATE events SET outcome = ?2 WHERE id = ?1",
                params![id, outcome],
            )
            .map(drop)
            .map_err(store)
        })
        .await
    }

    async fn complete(&self, id: i64) -> Result<(), QueueError> {
        self.run(move |tx, totals| {
            let len: Option<i64> = tx
                .query_row(
                    "DELETE FROM events WHERE id = ?1 RETURNING length(payload)",
                    [id],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
                .map_err(store)?;
            if let Some(len) = len {
                totals.events = totals.events.saturating_sub(1);
                totals.bytes = totals.bytes.saturating_sub(len as u64);
            }
            Ok(())
        })
        .await
    }

    async fn send(&self, queue: &str, body: Vec<u8>) -> Result<i64, QueueError> {
        let queue = queue.to_string();
        self.run(move |tx, _| {
            tx.execute(
                "INSERT INTO messages (queue, body, sent_ms) VALUES (?1, ?2, ?3)",
                params![queue, body, now_ms()],
            )
            .map_err(store)?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    async fn send_dead_letter(&self, queue: &str, letter: DeadLetter) -> Result<i64, QueueError> {
        let queue = queue.to_string();
        self.run(move |tx, _| {
            tx.execute(
                "INSERT INTO messages (queue, body, sent_ms, origin, request_id, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    queue,
                    letter.body,
                    now_ms(),
                    letter.event.origin,
                    letter.event.request_id,
                    letter.event.payload
                ],
            )
            .map_err(store)?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    async fn messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Message>, QueueError> {
        let queue = queue.to_string();
        self.run(move |tx, _| {
            let mut select = tx
                .prepare_cached(
                    "SELECT id, body, sent_ms FROM messages WHERE queue = ?1 AND id > ?2 \
                     ORDER BY id LIMIT ?3",
                )
                .map_err(store)?;
            let rows = select
                .query_map(params![queue, after, limit as i64], |r| {
                    Ok(Message {
                        id: r.get(0)?,
                        body: r.get(1)?,
                        sent_ms: r.get(2)?,
                    })
                })
                .map_err(store)?
                .collect::<Result<_, _>>()
                .map_err(store)?;
            Ok(rows)
        })
        .await
    }

    async fn delete_messages(&self, queue: &str, through: i64) -> Result<usize, QueueError> {
        let queue = queue.to_string();
        self.run(move |tx, _| {
            tx.execute(
                "DELETE FROM messages WHERE queue = ?1 AND id <= ?2",
                params![queue, through],
            )
            .map_err(store)
        })
        .await
    }

    async fn redrive(&self, queue: &str) -> Result<usize, QueueError> {
        let queue = queue.to_string();
        let moved = self
            .run(move |tx, totals| {
                let now = now_ms();
                let moved = tx
                    .execute(
                        "INSERT INTO events (origin, request_id, payload, enqueued_ms, due_ms) \
                         SELECT origin, request_id, payload, ?2, ?2 FROM messages \
                         WHERE queue = ?1 AND origin IS NOT NULL ORDER BY id",
                        params![queue, now],
                    )
                    .map_err(store)?;
                tx.execute(
                    "DELETE FROM messages WHERE queue = ?1 AND origin IS NOT NULL",
                    [&queue],
                )
                .map_err(store)?;
                *totals = Totals {
                    max_events: totals.max_events,
                    max_bytes: totals.max_bytes,
                    ..count(tx).map_err(store)?
                };
                Ok(moved)
            })
            .await?;
        if moved > 0 {
            self.wake.notify_one();
        }
        Ok(moved)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.run(|tx, totals| {
            let (in_flight, oldest): (i64, Option<i64>) = tx
                .query_row(
                    "SELECT (SELECT COUNT(*) FROM events WHERE leased = 1), \
                     (SELECT MIN(enqueued_ms) FROM events)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(store)?;
            let messages: i64 = tx
                .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
                .map_err(store)?;
            Ok(QueueStats {
                events: totals.events,
                in_flight: in_flight as u64,
                bytes: totals.bytes,
                oldest_ms: oldest,
                messages: messages as u64,
            })
        })
        .await
    }
}

fn store(e: rusqlite::Error) -> QueueError {
    QueueError::Store(e.to_string())
}

fn count(conn: &Connection) -> rusqlite::Result<Totals> {
    Totals::read(
        conn,
        &QueueSettings {
            max_events: 0,
            max_bytes: 0,
            ..QueueSettings::default()
        },
    )
}

/// Runs `f` in a savepoint: rolled back to it when `f` fails.
fn in_savepoint<T>(
    tx: &Transaction<'_>,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, QueueError>,
) -> Result<T, QueueError> {
    tx.execute_batch("SAVEPOINT op").map_err(store)?;
    let result = f(tx);
    let end = if result.is_ok() {
        "RELEASE op"
    } else {
        "ROLLBACK TO op; RELEASE op"
    };
    tx.execute_batch(end).map_err(store)?;
    result
}

/// Opens the database, creating the schema; events left in flight are made due again.
fn open_db(path: &Path) -> rusqlite::Result<(Connection, u64)> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    let recovered = conn.execute(
        "UPDATE events SET leased = 0, redelivered = 1 WHERE leased = 1 AND outcome IS NULL",
        [],
    )?;
    conn.execute("UPDATE events SET leased = 0 WHERE leased = 1", [])?;
    Ok((conn, recovered as u64))
}

/// The writer: takes one operation, then every one already waiting (up to [`BATCH`]), runs them
/// in one transaction and tells each caller how the commit went.
fn writer(mut conn: Connection, ops: mpsc::Receiver<Op>, mut totals: Totals) {
    while let Ok(first) = ops.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                // Dropping the batch drops each caller's reply (they hear that the store
                // failed); the reason is logged here.
                tracing::error!(error = %e, "event queue: cannot begin a transaction");
                continue;
            }
        };
        let done: Vec<Done> = batch.into_iter().map(|op| op(&tx, &mut totals)).collect();
        let committed = tx.commit().map_err(|e| e.to_string());
        if let Err(e) = &committed {
            tracing::error!(error = %e, "event queue: commit failed");
            if let Ok(fresh) = count(&conn) {
                totals.events = fresh.events;
                totals.bytes = fresh.bytes;
            }
        }
        for d in done {
            d(committed.clone());
        }
    }
}
