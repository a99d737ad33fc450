//! [`ViewerApp`]: what every viewer connection passes before the pipeline — the cap on open
//! connections, and the [`HeaderDeadline`] around each HTTP/1 connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;

use super::HeaderDeadline;
use crate::observe::Metrics;

/// Connection-level limits of the viewer listeners.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest time from a request's first byte to the end of its header block.
    pub header_timeout: Duration,
    /// Longest idle time between requests on a keep-alive connection.
    pub idle_timeout: Duration,
    /// Most viewer connections open at once.
    pub max_connections: usize,
}

/// Serves viewer connections with `inner` within [`ConnectionLimits`].
pub struct ViewerApp<A> {
    inner: Arc<A>,
    limits: ConnectionLimits,
    open: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl<A> ViewerApp<A> {
    /// `inner` serves the connections `limits` admits.
    pub fn new(inner: A, limits: ConnectionLimits, metrics: Arc<Metrics>) -> Self {
        ViewerApp {
            inner: Arc::new(inner),
            limits,
            open: AtomicUsize::new(0),
            metrics,
        }
    }
}

/// Counts a connection as open while it lives.
struct OpenConnection<'a> {
    open: &'a AtomicUsize,
    metrics: &'a Metrics,
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.metrics.viewer_connections.dec();
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for ViewerApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Over the cap the connection is closed at once: a descriptor and a task per idle socket
        // is what an attacker holding connections open is after.
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.limits.max_connections {
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.metrics.connections_refused.inc();
            return None;
        }
        self.metrics.viewer_connections.inc();
        let _open = OpenConnection {
            open: &self.open,
            metrics: &self.metrics,
        };
        let wrapped = stream.as_any().is::<HeaderDeadline>();
        let mut stream: Stream =
            if wrapped || matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
                stream
            } else {
                Box::new(HeaderDeadline::new(
                    stream,
                    self.limits.header_timeout,
                    self.limits.idle_timeout,
                    self.metrics.requests_refused.clone(),
                ))
            };
        if !wrapped && stream.selected_alpn_proto() != Some(ALPN::H2) {
            // Pingora closes every connection waiting for a request when a shutdown (or binary
            // upgrade) starts: right for idle keep-alive connections, wrong for one accepted a
            // moment before whose request is still on its way. Waiting here for its first byte
            // (within the header deadline; the byte stays buffered) lets it be served. Plain
            // TCP only: TLS streams cannot peek, and have their handshake behind them.
            let mut first = [0u8; 1];
            let _ =
                tokio::time::timeout(self.limits.header_timeout, stream.try_peek(&mut first)).await;
        }
        // Keep-alive reuse happens inside `inner`, so the connection is counted until it closes.
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}
