//! One JSON line per request on stdout, the shape log shippers expect, written by a thread of
//! its own.
//!
//! A `write` per request on the worker thread cost ~15 % of a hooks-off request's CPU, and a
//! reader of stdout that stalls (a full pipe to a log shipper) would stall every request behind
//! it. Lines are instead appended to a buffer that the writer thread empties in one `write` per
//! batch, at most [`GATHER`] after a batch's first line. As CloudFront's standard logs, the log
//! is best effort: past [`MAX_PENDING`] bytes waiting, lines are dropped and counted
//! (`edge_access_log_lines_dropped_total`) rather than the requests waiting.

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use prometheus::IntCounter;
use serde::Serialize;

/// How long the writer gathers lines after the first of a batch before writing them: the
/// longest a line waits for stdout.
const GATHER: Duration = Duration::from_millis(10);

/// Most bytes of lines waiting for the writer: at ~350 bytes a line, half a second of lines at
/// 100 K requests a second, five at 10 K — room for a log shipper's pause. Lines beyond are
/// dropped.
const MAX_PENDING: usize = 16 << 20;

/// How long [`flush`] waits for the writer: a stalled stdout does not hold up the exit for ever.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// The fields of one access-log line.
#[derive(Debug, Serialize)]
pub struct AccessLogLine<'a> {
    /// RFC 3339 time the request finished.
    pub time: String,
    /// The `x-edge-request-id` sent to the origin and the viewer.
    pub request_id: &'a str,
    /// Viewer address.
    pub client: String,
    /// HTTP method.
    pub method: &'a str,
    /// Host the viewer asked for.
    pub host: &'a str,
    /// Path and query as the viewer asked (normalized), whatever a hook rewrote.
    pub path: &'a str,
    /// Status sent to the viewer.
    pub status: u16,
    /// Response body bytes sent to the viewer.
    pub bytes: usize,
    /// Total time, milliseconds.
    pub duration_ms: f64,
    /// Time waiting for the origin's response header, milliseconds (absent when none was asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_ms: Option<f64>,
    /// Behavior (path pattern) that matched.
    pub behavior: &'a str,
    /// Origin name.
    pub origin: &'a str,
    /// Path and query the origin was asked for (absent when no origin was asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_path: Option<&'a str>,
    /// Why the request failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AccessLogLine<'_> {
    /// Queues the line for stdout (a line is never split or interleaved with another); when
    /// too many wait, drops it and counts it in `dropped`.
    pub fn emit(&self, dropped: &IntCounter) {
        let mut line = serde_json::to_vec(self).expect("access log fields serialize");
        line.push(b'\n');
        writer(dropped).push(&line);
    }
}

/// Writes every line queued so far and waits (at most [`FLUSH_WAIT`]) until they are written:
/// for the process's last moments.
pub fn flush() {
    if let Some(writer) = WRITER.get() {
        writer.flush();
    }
}

static WRITER: OnceLock<&'static Writer> = OnceLock::new();

/// The process's writer, its thread started on first use.
fn writer(dropped: &IntCounter) -> &'static Writer {
    WRITER.get_or_init(|| {
        let writer: &'static Writer = Box::leak(Box::new(Writer::new(dropped.clone())));
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(|| writer.run(std::io::stdout()))
            .expect("spawn the access-log thread");
        writer
    })
}

/// Lines on their way to stdout.
struct Writer {
    pending: Mutex<Pending>,
    /// Wakes the writer thread when it waits and there is something to do.
    ready: Condvar,
    dropped: IntCounter,
}

/// What waits for the writer thread.
#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// Callers of [`flush`] to tell once what was queued before them is written.
    flushes: Vec<mpsc::Sender<()>>,
    /// The thread waits on `ready` (waking it costs a system call; most lines need none).
    waiting: bool,
    /// Lines are being dropped (warned of once per spell).
    dropping: bool,
}

impl Pending {
    fn wake(&mut self, ready: &Condvar) {
        if self.waiting {
            self.waiting = false;
            ready.notify_one();
        }
    }
}

impl Writer {
    fn new(dropped: IntCounter) -> Self {
        Writer {
            pending: Mutex::default(),
            ready: Condvar::new(),
            dropped,
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: &[u8]) {
        let mut pending = self.pending();
        if pending.lines.len() + line.len() > MAX_PENDING {
            let first = !std::mem::replace(&mut pending.dropping, true);
            drop(pending);
            self.dropped.inc();
            if first {
                tracing::warn!(
                    "access log: stdout is not taking lines as fast as they come; dropping them \
                     (edge_access_log_lines_dropped_total counts them)"
                );
            }
            return;
        }
        pending.lines.extend_from_slice(line);
        pending.wake(&self.ready);
    }

    /// See [`flush`].
    fn flush(&self) {
        let (done, written) = mpsc::channel();
        {
            let mut pending = self.pending();
            pending.flushes.push(done);
            pending.wake(&self.ready);
        }
        let _ = written.recv_timeout(FLUSH_WAIT);
    }

    /// The writer thread: waits for lines, gathers a batch, writes it to `out` in one call.
    fn run(&self, mut out: impl Write) -> ! {
        let mut batch = Vec::new();
        loop {
            let mut pending = self.pending();
            while pending.lines.is_empty() && pending.flushes.is_empty() {
                pending.waiting = true;
                pending = self
                    .ready
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if pending.flushes.is_empty() {
                drop(pending);
                std::thread::sleep(GATHER);
                pending = self.pending();
            }
            std::mem::swap(&mut pending.lines, &mut batch);
            let flushes = std::mem::take(&mut pending.flushes);
            pending.dropping = false;
            drop(pending);
            // Nothing to do about a failed write to stdout: the lines are gone either way.
            let _ = out.write_all(&batch);
            let _ = out.flush();
            batch.clear();
            for done in flushes {
                let _ = done.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    /// An output that holds each write until `release` lets it through.
    struct Gate {
        written: Arc<Mutex<Vec<u8>>>,
        release: mpsc::Receiver<()>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.release.recv();
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn started(dropped: &IntCounter) -> (&'static Writer, Arc<Mutex<Vec<u8>>>, mpsc::Sender<()>) {
        let writer: &'static Writer = Box::leak(Box::new(Writer::new(dropped.clone())));
        let written = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = mpsc::channel();
        let out = Gate {
            written: written.clone(),
            release: gate,
        };
        std::thread::spawn(move || writer.run(out));
        (writer, written, release)
    }

    fn line(n: usize) -> Vec<u8> {
        format!("{{\"n\":{n}}}\n").into_bytes()
    }

    #[test]
    fn lines_from_many_threads_are_written_whole_and_each_threads_in_order() {
        let dropped = IntCounter::new("d", "d").unwrap();
        let (writer, written, release) = started(&dropped);
        for _ in 0..1000 {
            release.send(()).unwrap();
        }
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..500 {
                        writer.push(&line(t * 1000 + i));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        writer.flush();
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let numbers: Vec<usize> = text
            .lines()
            .map(|l| l[5..l.len() - 1].parse().unwrap())
            .collect();
        assert_eq!(numbers.len(), 2000);
        for t in 0..4 {
            let mine: Vec<usize> = numbers.iter().copied().filter(|n| n / 1000 == t).collect();
            assert_eq!(mine, (t * 1000..t * 1000 + 500).collect::<Vec<_>>());
        }
        assert_eq!(dropped.get(), 0);
    }

    #[test]
    fn a_stalled_output_drops_lines_past_the_bound_instead_of_blocking_the_caller() {
        let dropped = IntCounter::new("d", "d").unwrap();
        let (writer, written, release) = started(&dropped);
        // The first line reaches the writer, whose write then waits on the gate.
        writer.push(&line(0));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !writer.pending().lines.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never took a line"
            );
            std::thread::sleep(GATHER);
        }
        let long = vec![b'x'; 1 << 16];
        let mut pushed = 0;
        while dropped.get() == 0 {
            writer.push(&long);
            pushed += 1;
            assert!(
                pushed <= MAX_PENDING / long.len() + 2,
                "nothing was dropped"
            );
        }
        assert_eq!(pushed, MAX_PENDING / long.len() + 1);
        for _ in 0..2 {
            release.send(()).unwrap();
        }
        writer.flush();
        assert_eq!(
            written.lock().unwrap().len(),
            line(0).len() + (pushed - 1) * long.len(),
            "every line not dropped is written"
        );
    }
}
