//! Follows the server through its life: tells a service manager when it is ready, and on a
//! graceful shutdown (SIGTERM, or SIGQUIT after the listening sockets went to a new process)
//! ends the process once no viewer connection has been open for a moment (100 ms), or when the
//! grace period is over.
//!
//! Pingora stops accepting and closes idle keep-alive connections when the shutdown starts, then
//! waits a fixed grace period in whole seconds before cutting what is left. Waiting the whole
//! period when nothing is in flight would hold every deploy for 30 s; so this ends it early.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::server::ExecutionPhase;
use tokio::sync::broadcast;

use super::notify_ready;
use crate::observe::Metrics;

/// How often a draining process looks at its open connections.
const POLL: Duration = Duration::from_millis(20);

/// How long no connection must be open before a draining process ends. A connection is counted
/// when its task first runs, a moment after it was accepted (after its TLS handshake, for TLS):
/// one accepted just before the listeners stopped is not counted yet when the drain begins, and
/// ending at the first look that reads none would reset it unserved.
const SETTLE: Duration = Duration::from_millis(100);

/// The shutdown side of the node's life.
pub struct Drain {
    /// Longest wait for requests in flight.
    pub grace: Duration,
    /// Where open viewer connections are counted.
    pub metrics: Arc<Metrics>,
}

impl Drain {
    /// Follows `phases` on a thread of its own.
    pub fn follow(self, mut phases: broadcast::Receiver<ExecutionPhase>) {
        std::thread::Builder::new()
            .name("edge-lifecycle".into())
            .spawn(move || loop {
                match phases.blocking_recv() {
                    Ok(ExecutionPhase::Running) => notify_ready(),
                    Ok(ExecutionPhase::ShutdownGracePeriod) => self.drain(),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            })
            .expect("spawn lifecycle thread");
    }

    fn drain(&self) -> ! {
        let deadline = Instant::now() + self.grace;
        tracing::info!(
            grace_ms = self.grace.as_millis() as u64,
            open = self.metrics.viewer_connections.get(),
            "shutting down: no new connections, waiting for requests in flight"
        );
        let mut idle = IdleSince::default();
        loop {
            let open = self.metrics.viewer_connections.get();
            let now = Instant::now();
            // Past the deadline nothing is waited for, settled or not.
            if idle.settled(open, now) || (open <= 0 && now >= deadline) {
                tracing::info!("shutdown: every request finished");
                break;
            }
            if now >= deadline {
                tracing::warn!(
                    open,
                    "shutdown: grace period over, closing the connections left"
                );
                break;
            }
            std::thread::sleep(POLL);
        }
        crate::observe::flush_access_log();
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::process::exit(0)
    }
}

/// Whether no connection has been open for [`SETTLE`], from one look at the count to the next.
#[derive(Debug, Default)]
struct IdleSince(Option<Instant>);

impl IdleSince {
    /// Takes the count of open connections at `now`; true once it has read none since at
    /// least [`SETTLE`] ago.
    fn settled(&mut self, open: i64, now: Instant) -> bool {
        if open > 0 {
            self.0 = None;
            return false;
        }
        let since = *self.0.get_or_insert(now);
        now.duration_since(since) >= SETTLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_ends_only_after_no_connection_was_open_for_the_settling_time() {
        let start = Instant::now();
        let mut idle = IdleSince::default();
        // None open at the first look: not yet, a connection accepted a moment ago may count.
        assert!(!idle.settled(0, start));
        assert!(!idle.settled(0, start + SETTLE / 2));
        // One appears: the wait starts again once it is gone.
        assert!(!idle.settled(1, start + SETTLE));
        assert!(!idle.settled(0, start + SETTLE + POLL));
        assert!(!idle.settled(0, start + SETTLE * 2));
        assert!(idle.settled(0, start + SETTLE * 2 + POLL));
    }
}
