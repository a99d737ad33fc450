//! Pingora's own answers to a request it refuses before the pipeline sees it, said in the
//! node's words.
//!
//! Pingora answers a request head it cannot parse (a bad request line, an obs-folded or
//! control-character header, conflicting framing, HTTP/2's preface on an HTTP/1 port) with
//! `400`, and a `CONNECT` with `405`, before any phase of the proxy runs: an empty body, and
//! `Server: Pingora`, which tells a scanner what the node runs. Every other answer of the node
//! carries no `Server` header and a one-line body saying why. [`Refusal::of`] recognises such
//! an answer as it is written outside a request and [`Refusal`] writes the node's own instead.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::StatusCode;
use pingora::protocols::http::date::get_cached_date;
use tokio::io::AsyncWrite;

/// The methods `Allow` lists on a refused `CONNECT`: CloudFront's full set.
const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE";

/// The node's answer to a request Pingora refused, being written in place of Pingora's.
#[derive(Debug)]
pub(super) struct Refusal {
    status: StatusCode,
    bytes: Vec<u8>,
    sent: usize,
}

impl Refusal {
    /// The node's answer in place of `written`, if `written` starts an error response (4xx or
    /// 5xx). Called only for bytes written outside a request, which only Pingora writes.
    pub(super) fn of(written: &[u8]) -> Option<Self> {
        let line = written.strip_prefix(b"HTTP/1.")?;
        let code = line.get(2..5).filter(|_| line.get(1) == Some(&b' '))?;
        let status = StatusCode::from_bytes(code).ok()?;
        if !(status.is_client_error() || status.is_server_error()) {
            return None;
        }
        let why = match status {
            StatusCode::BAD_REQUEST => "the request line or a header is malformed",
            StatusCode::METHOD_NOT_ALLOWED => "CONNECT is not supported",
            _ => "the request was refused",
        };
        let body = format!(
            "{} {}: {why}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let date = get_cached_date();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nDate: {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len(),
            date.to_str().unwrap_or_default(),
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            head.push_str(&format!("Allow: {ALLOWED_METHODS}\r\n"));
        }
        head.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Some(Refusal {
            status,
            bytes,
            sent: 0,
        })
    }

    /// The status this answer carries.
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    /// Writes what is left of the answer to `out`; ready once all of it is written (at once on
    /// every later call: what Pingora goes on writing of its own answer is dropped).
    pub(super) fn poll_send<W: AsyncWrite + ?Sized>(
        &mut self,
        mut out: Pin<&mut W>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.sent < self.bytes.len() {
            let n = ready!(out.as_mut().poll_write(cx, &self.bytes[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(refusal: &Refusal) -> String {
        String::from_utf8(refusal.bytes.clone()).unwrap()
    }

    #[test]
    fn pingoras_400_becomes_the_nodes_with_a_body_and_no_server_header() {
        let pingora = b"HTTP/1.1 400 Bad Request\r\nServer: Pingora\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\nCache-Control: private, no-store\r\nConnection: close\r\n\r\n";
        let refusal = Refusal::of(pingora).unwrap();
        let text = text(&refusal);
        assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("server:"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            body,
            "400 Bad Request: the request line or a header is malformed\n"
        );
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );
    }

    #[test]
    fn a_refused_connect_says_which_methods_are_allowed() {
        let refusal =
            Refusal::of(b"HTTP/1.1 405 Method Not Allowed\r\nServer: Pingora\r\n").unwrap();
        let text = text(&refusal);
        assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE\r\n"));
        assert!(text.ends_with("\r\n\r\n405 Method Not Allowed: CONNECT is not supported\n"));
    }

    #[test]
    fn only_error_responses_are_replaced() {
        for written in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 101 Switching Protocols\r\n",
            b"HTTP/1.1 304 Not Modified\r\n",
            b"0\r\n\r\n",
            b"HTTP/1.1 4",
            b"HTTP/1.1 4x0 Bad\r\n",
            b"HTTP/2 400\r\n",
            b"",
        ] {
            assert!(Refusal::of(written).is_none(), "{written:?}");
        }
        assert!(Refusal::of(b"HTTP/1.0 503 Service Unavailable\r\n").is_some());
    }
}
