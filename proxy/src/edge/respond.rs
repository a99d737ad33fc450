//! Short responses the proxy itself generates (errors, refusals), so every status a viewer can
//! get from edge-proxy comes with a body saying why.

use bytes::Bytes;
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};

use crate::origins::{LocalBody, LocalResponse};

/// `X-Cache` values, as CloudFront's (`Hit from cloudfront`) but naming this proxy.
pub const X_CACHE_HIT: &str = "Hit from edge-proxy";
/// `X-Cache` of a response revalidated with the origin.
pub const X_CACHE_REFRESH_HIT: &str = "RefreshHit from edge-proxy";
/// `X-Cache` of a response fetched from the origin (or produced by the node).
pub const X_CACHE_MISS: &str = "Miss from edge-proxy";

/// Sends `status` with a one-line text body. `close` ends the connection afterwards, for
/// requests whose framing cannot be trusted.
pub async fn text(
    session: &mut Session,
    status: StatusCode,
    message: &str,
    request_id: &str,
    close: bool,
) -> pingora::Result<()> {
    send_text(session, status, message, request_id, close, false).await
}

/// As [`text`], marked `Cache-Control: no-store` so no cache keeps it.
pub async fn uncacheable_text(
    session: &mut Session,
    status: StatusCode,
    message: &str,
    request_id: &str,
) -> pingora::Result<()> {
    send_text(session, status, message, request_id, false, true).await
}

async fn send_text(
    session: &mut Session,
    status: StatusCode,
    message: &str,
    request_id: &str,
    close: bool,
    no_store: bool,
) -> pingora::Result<()> {
    let body = Bytes::from(format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    ));
    let mut header = ResponseHeader::build(status, Some(5))?;
    header.insert_header("Content-Type", "text/plain; charset=utf-8")?;
    header.insert_header("Content-Length", body.len().to_string())?;
    header.insert_header(super::forwarding::REQUEST_ID_KEY, request_id)?;
    if no_store {
        header.insert_header("Cache-Control", "no-store")?;
    }
    if close {
        header.insert_header("Connection", "close")?;
        session.set_keepalive(None);
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Writes a response the proxy produced itself (a files origin's, a generated one), streaming
/// file bodies in bounded chunks.
pub async fn local(
    session: &mut Session,
    request_id: &str,
    mut response: LocalResponse,
) -> pingora::Result<()> {
    response
        .header
        .insert_header(super::forwarding::REQUEST_ID_KEY, request_id)?;
    let empty = matches!(response.body, LocalBody::Empty)
        || session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(response.header), empty)
        .await?;
    if empty {
        return Ok(());
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    let reader = tokio::spawn(response.body.stream(move |chunk| {
        let tx = tx.clone();
        async move {
            tx.send(chunk)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "viewer gone"))
        }
    }));
    while let Some(chunk) = rx.recv().await {
        session.write_response_body(Some(chunk), false).await?;
    }
    reader
        .await
        .map_err(|e| Error::because(ErrorType::InternalError, "file reader task", e))?
        .map_err(|e| Error::because(ErrorType::ReadError, "reading object", e))?;
    session.write_response_body(None, true).await
}
