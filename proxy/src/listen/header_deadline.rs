//! Deadlines on an HTTP/1 viewer connection outside its requests: the header block
//! (slowloris protection) and the idle time between keep-alive requests.
//!
//! Pingora times out each individual read, so a client that trickles one byte every few seconds
//! can hold a connection and a task forever, and a keep-alive connection waits for its next
//! request without end. [`HeaderDeadline`] wraps the connection: from the first byte of a request
//! until the pipeline has its header, at most `limit` may pass (then the client gets `408 Request
//! Timeout` and the connection is closed); between requests, at most `idle` (then the connection
//! is closed quietly, as nginx's `keepalive_timeout`). The pipeline says when a request's head has
//! been read and when the request is over ([`HeaderDeadline::head_read`],
//! [`HeaderDeadline::request_done`]); in between no deadline applies here, so a WebSocket or an
//! upload after `100 Continue` is never mistaken for a slow header. HTTP/2 has its own framing
//! and idle timeout and is not wrapped.
//!
//! Knowing where each request starts, it also sees what is written outside one: only Pingora
//! writes there, refusing a request the pipeline never saw, and [`Refusal`] answers in the
//! node's words instead.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType, ALPN,
};
use prometheus::IntCounterVec;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::refusal::Refusal;

const TIMEOUT_RESPONSE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 43\r\nConnection: close\r\n\r\n408 Request Timeout: request header late.\r\n";

/// Where the connection is in the request cycle (kept in an atomic: the pipeline moves it
/// through a shared reference to the stream).
mod phase {
    /// Reading a request's header block; the header deadline runs.
    pub const HEAD: u8 = 0;
    /// A request just ended; the idle deadline starts at the next read.
    pub const IDLE_FROM_NOW: u8 = 1;
    /// Between requests; the idle deadline runs.
    pub const IDLE: u8 = 2;
    /// Inside a request (its head read); no deadline here.
    pub const REQUEST: u8 = 3;
}

/// An HTTP/1 connection with deadlines on each request's header block and on idle time.
pub struct HeaderDeadline {
    inner: Stream,
    limit: Duration,
    idle: Duration,
    phase: AtomicU8,
    /// When the running phase's deadline passes.
    deadline: Instant,
    /// Wakes the connection at or before `deadline`. Moving a registered timer takes the timer
    /// wheel's lock, so a later deadline leaves it where it is: it fires early at most once per
    /// deadline period and is moved then (see [`HeaderDeadline::expired`]).
    timer: Pin<Box<Sleep>>,
    /// The node's answer being written in place of the one Pingora writes for a request it
    /// refused, once Pingora starts writing it.
    refusal: Option<Refusal>,
    /// `edge_requests_refused_total`.
    refused: IntCounterVec,
}

impl HeaderDeadline {
    /// Wraps `inner`; the header clock for the first request starts now (at accept). Requests
    /// Pingora refuses are counted in `refused`, by status.
    pub fn new(inner: Stream, limit: Duration, idle: Duration, refused: IntCounterVec) -> Self {
        let deadline = Instant::now() + limit;
        HeaderDeadline {
            inner,
            limit,
            idle,
            phase: AtomicU8::new(phase::HEAD),
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            refusal: None,
            refused,
        }
    }

    /// Notes, and counts, whether `written` (about to go out) is what Pingora writes to refuse
    /// a request the pipeline never saw: an error response written outside a request. From
    /// then on [`Self::refusal`] is written instead. Inside a request (every response the
    /// pipeline writes) nothing is looked at.
    fn check_refusal(&mut self, written: &[io::IoSlice<'_>]) {
        if self.refusal.is_none() && *self.phase.get_mut() != phase::REQUEST {
            let first = written
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            self.refusal = Refusal::of(first);
            if let Some(refusal) = &self.refusal {
                self.refused
                    .with_label_values(&[refusal.status().as_str()])
                    .inc();
            }
        }
    }

    /// Whether the running phase's deadline has passed; if not, makes sure the timer wakes the
    /// connection by then. Called only when a read found nothing to read.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.timer.deadline() > self.deadline {
            self.timer.as_mut().reset(self.deadline);
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= self.deadline {
                return true;
            }
            // An earlier deadline's wake-up: wait for this one.
            self.timer.as_mut().reset(self.deadline);
        }
        false
    }

    /// The pipeline has the request's header: no deadline until the request is over.
    pub fn head_read(&self) {
        self.phase.store(phase::REQUEST, Ordering::Relaxed);
    }

    /// The request is over: the connection idles until the next request starts.
    pub fn request_done(&self) {
        self.phase.store(phase::IDLE_FROM_NOW, Ordering::Relaxed);
    }
}

impl fmt::Debug for HeaderDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderDeadline")
            .field("phase", &self.phase.load(Ordering::Relaxed))
            .finish()
    }
}

impl AsyncRead for HeaderDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let phase = this.phase.get_mut();
        if *phase == phase::IDLE_FROM_NOW {
            *phase = phase::IDLE;
            this.deadline = Instant::now() + this.idle;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let phase = this.phase.get_mut();
                if *phase == phase::IDLE && buf.filled().len() > before {
                    // The next request's first bytes: its header clock starts.
                    *phase = phase::HEAD;
                    this.deadline = Instant::now() + this.limit;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.phase.load(Ordering::Relaxed) {
                phase::HEAD if this.expired(cx) => {
                    // Best effort: the socket buffer of a connection that sent only a partial
                    // header is empty, so this small write completes at once.
                    let _ = Pin::new(&mut this.inner).poll_write(cx, TIMEOUT_RESPONSE);
                    let _ = Pin::new(&mut this.inner).poll_flush(cx);
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request header not received within the deadline",
                    )))
                }
                // Idle too long: end of stream, which Pingora takes as the viewer closing.
                phase::IDLE if this.expired(cx) => Poll::Ready(Ok(())),
                _ => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for HeaderDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.check_refusal(&[io::IoSlice::new(buf)]);
        if let Some(refusal) = &mut this.refusal {
            ready!(refusal.poll_send(Pin::new(&mut this.inner), cx))?;
            // Pingora's own bytes are taken and dropped.
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
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
        let this = &mut *self;
        this.check_refusal(bufs);
        if let Some(refusal) = &mut this.refusal {
            ready!(refusal.poll_send(Pin::new(&mut this.inner), cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
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
