//! The start of a request body read for include-body hooks, and putting it back in front of the
//! stream the origin receives.
//!
//! CloudFront shows a function the first 40 KB (viewer-request) or 1 MB (origin-request) of a
//! body and still forwards the whole body to the origin, whatever its size. The node reads only
//! what the hook is shown (plus one byte, to know whether it was cut) and leaves the rest in the
//! connection. Pingora forwards the body it reads itself and replays its own retry buffer
//! (64 KiB, kept from the moment buffering is switched on); what the node read outside that
//! buffer is put back in front of the first chunk that reaches the origin ([`HeldBody::replay`]).
//! With a `Content-Length` the buffer is switched on once at most 64 KiB are left, so a body the
//! read finished is always in it; a body without one (chunked) that ends past 64 KiB cannot be
//! replayed by Pingora and is refused with 411 Length Required.

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::request_body;

/// What Pingora's retry buffer holds at most (`BODY_BUF_LIMIT` in pingora-core).
const RETRY_BUFFER: usize = 64 * 1024;

/// The bytes of a request body read so far, and which of them Pingora will not replay.
#[derive(Default)]
pub struct HeldBody {
    read: BytesMut,
    /// Bytes read before Pingora's retry buffer was switched on.
    unbuffered: usize,
    buffering: bool,
    /// The part of the body the node sends ahead of Pingora's, once per attempt.
    replay: Option<Bytes>,
    replayed: bool,
}

impl HeldBody {
    /// Reads until more than `cap` bytes are held or the body ends, under the request body's
    /// deadline; a second trigger with a larger cap reads on from where the first stopped.
    pub async fn fill(
        &mut self,
        session: &mut Session,
        deadline: tokio::time::Instant,
        cap: usize,
    ) -> Result<()> {
        let length = content_length(session);
        while self.read.len() <= cap && !session.is_body_done() {
            let left = length.map(|l| l.saturating_sub(self.read.len()));
            if !self.buffering && left.is_none_or(|left| left <= RETRY_BUFFER) {
                // Pingora keeps a body's last 64 KiB from here on and replays them itself.
                session.enable_retry_buffering();
                self.buffering = true;
                self.unbuffered = self.read.len();
            }
            match request_body::next_chunk(session, deadline).await? {
                Some(chunk) => self.read.extend_from_slice(&chunk),
                None => break,
            }
        }
        let pingora_replays = self.buffering
            && !session.retry_buffer_truncated()
            && self.read.len() > self.unbuffered;
        if !pingora_replays && session.is_body_done() && !self.read.is_empty() {
            return Error::e_explain(
                ErrorType::HTTPStatus(411),
                format!(
                    "a request body without Content-Length that ends past {RETRY_BUFFER} bytes \
                     cannot be held for an include-body function: send Content-Length"
                ),
            );
        }
        let ours = if pingora_replays {
            self.unbuffered
        } else {
            self.read.len()
        };
        self.replay = (ours > 0).then(|| Bytes::copy_from_slice(&self.read[..ours]));
        Ok(())
    }

    /// The first `cap` bytes (what a function is shown), and whether the body goes on past them.
    pub fn shown(&self, cap: usize) -> (&[u8], bool) {
        let n = self.read.len().min(cap);
        (&self.read[..n], self.read.len() > cap)
    }

    /// A new attempt to reach the origin starts: the held part is sent again in front of it.
    pub fn restart(&mut self) {
        self.replayed = false;
    }

    /// Puts the held part in front of the first chunk of an attempt (or is the whole body when
    /// Pingora has nothing to send).
    pub fn replay(&mut self, chunk: &mut Option<Bytes>) {
        if self.replayed {
            return;
        }
        self.replayed = true;
        let Some(held) = &self.replay else { return };
        *chunk = Some(match chunk.take() {
            Some(rest) if !rest.is_empty() => {
                let mut joined = BytesMut::with_capacity(held.len() + rest.len());
                joined.extend_from_slice(held);
                joined.extend_from_slice(&rest);
                joined.freeze()
            }
            _ => held.clone(),
        });
    }
}

/// The request's `Content-Length`, when it frames the body (no `Transfer-Encoding`).
fn content_length(session: &Session) -> Option<usize> {
    let headers = &session.req_header().headers;
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return None;
    }
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
