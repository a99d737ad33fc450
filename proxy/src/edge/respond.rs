//! Short responses the proxy itself generates (errors, refusals), so every status a viewer can
//! get from edge-proxy comes with a body saying why.

use bytes::Bytes;
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// Sends `status` with a one-line text body. `close` ends the connection afterwards, for
/// requests whose framing cannot be trusted.
pub async fn text(
    session: &mut Session,
    status: StatusCode,
    message: &str,
    request_id: &str,
    close: bool,
) -> pingora::Result<()> {
    let body = Bytes::from(format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    ));
    let mut header = ResponseHeader::build(status, Some(4))?;
    header.insert_header("content-type", "text/plain; charset=utf-8")?;
    header.insert_header("content-length", body.len().to_string())?;
    header.insert_header(super::forwarding::REQUEST_ID, request_id)?;
    if close {
        header.insert_header("connection", "close")?;
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
