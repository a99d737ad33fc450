//! Follows the server through its life: tells a service manager when it is ready, and on a
//! graceful shutdown (SIGTERM, or SIGQUIT after the listening sockets went to a new process)
//! ends the process as soon as no viewer connection is left, or when the grace period is over.
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
        loop {
            let open = self.metrics.viewer_connections.get();
            if open <= 0 {
                tracing::info!("shutdown: every request finished");
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    open,
                    "shutdown: grace period over, closing the connections left"
                );
                break;
            }
            std::thread::sleep(POLL);
        }
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::process::exit(0)
    }
}
