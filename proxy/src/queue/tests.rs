//! The same tests on both stores: SQLite in a temporary directory, and NATS JetStream on a
//! `nats-server` each test starts (`scripts/setup.sh` installs it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{now_ms, open, DeadLetter, EventQueue, NewEvent, QueueError};
use crate::config::{QueueBackend, QueueSettings};

/// A store to test: how to open it (again), and what keeps it alive.
struct Store {
    settings: QueueSettings,
    server: Option<std::process::Child>,
    dir: PathBuf,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-queue-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Store {
    fn sqlite() -> Store {
        let dir = tempdir();
        Store {
            settings: QueueSettings {
                backend: QueueBackend::Sqlite { dir: dir.clone() },
                max_events: 3,
                ..QueueSettings::default()
            },
            server: None,
            dir,
        }
    }

    /// A JetStream server on a port it picks itself (`-p -1`) and reports in its ports file:
    /// a port taken from a released `bind(0)` could be taken again before the server binds it,
    /// and the test would talk to whatever holds it.
    fn nats() -> Store {
        let dir = tempdir();
        let mut server = std::process::Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(&dir)
            .arg("-sd")
            .arg(dir.join("js"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server (scripts/setup.sh installs it)");
        let ports_file = dir.join(format!("nats-server_{}.ports", server.id()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let url = loop {
            let listed = std::fs::read_to_string(&ports_file)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|ports| ports["nats"][0].as_str().map(str::to_string));
            if let Some(url) = listed {
                break url;
            }
            if std::time::Instant::now() >= deadline || server.try_wait().ok().flatten().is_some() {
                let _ = server.kill();
                panic!("nats-server did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Store {
            settings: QueueSettings {
                backend: QueueBackend::Nats {
                    url,
                    stream: "TEST".into(),
                    ack_wait: Duration::from_secs(1),
                },
                max_events: 3,
                ..QueueSettings::default()
            },
            server: Some(server),
            dir,
        }
    }

    /// Opens the store; a NATS client is made on a runtime of its own, so off this one.
    async fn open(&self) -> (Arc<EventQueue>, u64) {
        let settings = self.settings.clone();
        tokio::task::spawn_blocking(move || open(&settings))
            .await
            .unwrap()
            .expect("open")
    }
}

fn event(n: u32) -> NewEvent {
    NewEvent {
        origin: "collect".into(),
        request_id: format!("req-{n}"),
        payload: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

/// Leases until `n` jobs came (a NATS fetch can return fewer than asked at once).
async fn lease_n(queue: &EventQueue, n: usize) -> Vec<super::Job> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut jobs = Vec::new();
    while jobs.len() < n {
        jobs.extend(queue.lease(n - jobs.len()).await.expect("leased"));
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n}",
            jobs.len()
        );
    }
    jobs
}

macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Store::sqlite()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nats() {
                super::$name(super::Store::nats()).await
            }
        }
    };
}

on_both_stores!(a_full_queue_refuses_and_leased_events_come_back_after_a_restart);
async fn a_full_queue_refuses_and_leased_events_come_back_after_a_restart(store: Store) {
    let (queue, recovered) = store.open().await;
    assert_eq!(recovered, 0);
    for n in 0..3 {
        queue.enqueue(event(n)).await.expect("queued");
    }
    assert!(matches!(
        queue.enqueue(event(3)).await,
        Err(QueueError::Full(_))
    ));
    let taken = lease_n(&*queue, 2).await;
    assert_eq!(taken[0].attempts, 1);
    queue.complete(taken[0].id).await.expect("completed");
    drop(queue);
    // The writer thread (SQLite) or the client (NATS) ends with the queue.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let (queue, _) = store.open().await;
    // The event in flight at close comes back (NATS: once its lease of 1 s passed), marked.
    let again = lease_n(&*queue, 2).await;
    let mut ids: Vec<&str> = again.iter().map(|j| j.request_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["req-1", "req-2"]);
    let cut_short = again
        .iter()
        .find(|j| j.request_id == taken[1].request_id)
        .unwrap();
    assert!(
        cut_short.redelivered && cut_short.attempts == 2,
        "{cut_short:?}"
    );
    let untouched = again
        .iter()
        .find(|j| j.request_id != taken[1].request_id)
        .unwrap();
    assert!(
        !untouched.redelivered && untouched.attempts == 1,
        "{untouched:?}"
    );
    let stats = queue.stats().await.expect("stats");
    assert_eq!((stats.events, stats.in_flight), (2, 2));
}

on_both_stores!(dead_letters_are_redriven_and_records_stay);
async fn dead_letters_are_redriven_and_records_stay(store: Store) {
    let (queue, _) = store.open().await;
    queue
        .send("failures", b"{\"record\":1}".to_vec())
        .await
        .expect("sent");
    queue
        .send_dead_letter(
            "failures",
            DeadLetter {
                event: event(7),
                body: b"{\"letter\":7}".to_vec(),
            },
        )
        .await
        .expect("sent");
    let both = queue.messages("failures", 0, 10).await.unwrap();
    let bodies: Vec<&[u8]> = both.iter().map(|m| &m.body[..]).collect();
    assert_eq!(bodies, [&b"{\"record\":1}"[..], b"{\"letter\":7}"]);
    assert_eq!(queue.redrive("failures").await.expect("redriven"), 1);
    let left = queue.messages("failures", 0, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, b"{\"record\":1}");
    let jobs = lease_n(&*queue, 1).await;
    assert_eq!(
        (jobs[0].request_id.as_str(), jobs[0].attempts),
        ("req-7", 1)
    );
    assert_eq!(jobs[0].payload, b"{\"n\":7}");
    assert_eq!(
        queue.delete_messages("failures", left[0].id).await.unwrap(),
        1
    );
    assert!(queue.messages("failures", 0, 10).await.unwrap().is_empty());
}

on_both_stores!(releases_back_offs_retries_and_outcomes_keep_their_counts);
async fn releases_back_offs_retries_and_outcomes_keep_their_counts(store: Store) {
    let (queue, _) = store.open().await;
    queue.enqueue(event(1)).await.unwrap();
    let job = lease_n(&*queue, 1).await.remove(0);
    assert_eq!((job.attempts, job.backoffs), (1, 0));
    // Put back unchanged, due in 300 ms: not leased before, leased after, still attempt 1.
    queue.release(job.id, now_ms() + 300).await.unwrap();
    assert!(queue.lease(1).await.unwrap().is_empty(), "not due yet");
    let job = lease_n(&*queue, 1).await.remove(0);
    assert_eq!(
        (job.attempts, job.backoffs),
        (1, 0),
        "a release is not an attempt"
    );
    queue.back_off(job.id, now_ms()).await.unwrap();
    let job = lease_n(&*queue, 1).await.remove(0);
    assert_eq!(
        (job.attempts, job.backoffs),
        (1, 1),
        "a back-off is not an attempt"
    );
    queue
        .retry(job.id, now_ms(), b"last".to_vec())
        .await
        .unwrap();
    let job = lease_n(&*queue, 1).await.remove(0);
    assert_eq!(job.attempts, 2);
    assert_eq!(job.last_response.as_deref(), Some(&b"last"[..]));
    assert!(job.outcome.is_none());
    queue.decide(job.id, b"record".to_vec()).await.unwrap();
    queue.release(job.id, now_ms()).await.unwrap();
    let job = lease_n(&*queue, 1).await.remove(0);
    assert_eq!(job.outcome.as_deref(), Some(&b"record"[..]));
    assert_eq!(job.attempts, 2, "delivering an outcome is not an attempt");
    queue.complete(job.id).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().events, 0);
}
