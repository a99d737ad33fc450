//! A total deadline for receiving a request's header block (slowloris protection).
//!
//! Pingora times out each individual read, so a client that trickles one byte every few seconds
//! can hold a connection and a task forever. [`HeaderDeadline`] wraps the HTTP/1 connection and
//! watches the bytes go by: from the start of a request until the blank line that ends its
//! header block, at most `limit` may pass; then the client gets `408 Request Timeout` and the
//! connection is closed. HTTP/2 has its own framing and flow control and is not wrapped.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType, ALPN,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const TIMEOUT_RESPONSE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 43\r\nConnection: close\r\n\r\n408 Request Timeout: request header late.\r\n";

/// Where the connection is in the request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a header block (`started` once its first byte arrived).
    Header { started: bool, matched: u8 },
    /// The header block is complete; body bytes and the response follow.
    Rest,
}

/// An HTTP/1 connection with a deadline on each request's header block.
pub struct HeaderDeadline {
    inner: Stream,
    limit: Duration,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
}

impl HeaderDeadline {
    /// Wraps `inner`; the clock for the first request starts now (at accept).
    pub fn new(inner: Stream, limit: Duration) -> Self {
        HeaderDeadline {
            inner,
            limit,
            phase: Phase::Header {
                started: true,
                matched: 0,
            },
            timer: Box::pin(tokio::time::sleep(limit)),
        }
    }

    /// Advances the header-end matcher over `bytes`. `matched` is 0 inside a line, 1 right
    /// after a `\n`, 2 after a `\r` at the start of a line; an empty line ends the block
    /// (`\r\n\r\n`, or `\n\n` from lenient clients).
    fn observe(&mut self, bytes: &[u8]) {
        let Phase::Header {
            mut started,
            mut matched,
        } = self.phase
        else {
            return;
        };
        if !started && !bytes.is_empty() {
            started = true;
            self.timer.as_mut().reset(Instant::now() + self.limit);
        }
        for &b in bytes {
            matched = match (b, matched) {
                (b'\n', 1 | 2) => {
                    self.phase = Phase::Rest;
                    return;
                }
                (b'\n', _) => 1,
                (b'\r', 1) => 2,
                (b'\r', m) => m,
                _ => 0,
            };
        }
        self.phase = Phase::Header { started, matched };
    }
}

impl fmt::Debug for HeaderDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderDeadline")
            .field("phase", &self.phase)
            .finish()
    }
}

impl AsyncRead for HeaderDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let this = &mut *self;
                this.observe(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let this = &mut *self;
                if matches!(this.phase, Phase::Header { started: true, .. })
                    && this.timer.as_mut().poll(cx).is_ready()
                {
                    // Best effort: the socket buffer of a connection that sent only a partial
                    // header is empty, so this small write completes at once.
                    let _ = Pin::new(&mut this.inner).poll_write(cx, TIMEOUT_RESPONSE);
                    let _ = Pin::new(&mut this.inner).poll_flush(cx);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request header not received within the deadline",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for HeaderDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // A response is going out: the next bytes read start a new request.
        if self.phase == Phase::Rest {
            self.phase = Phase::Header {
                started: false,
                matched: 0,
            };
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.phase == Phase::Rest {
            self.phase = Phase::Header {
                started: false,
                matched: 0,
            };
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for HeaderDeadline {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for HeaderDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderDeadline {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeaderDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
}

impl GetProxyDigest for HeaderDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for HeaderDeadline {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

#[async_trait]
impl Peek for HeaderDeadline {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

/// Wraps every HTTP/1 connection of `inner` in a [`HeaderDeadline`].
pub struct HeaderDeadlineApp<A> {
    inner: Arc<A>,
    limit: Duration,
}

impl<A> HeaderDeadlineApp<A> {
    /// `inner` serves the connections; `limit` bounds each request's header block.
    pub fn new(inner: A, limit: Duration) -> Self {
        HeaderDeadlineApp {
            inner: Arc::new(inner),
            limit,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for HeaderDeadlineApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let already = stream.as_any().is::<HeaderDeadline>();
        let stream: Stream = if already || matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            stream
        } else {
            Box::new(HeaderDeadline::new(stream, self.limit))
        };
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}
