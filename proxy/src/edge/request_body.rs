//! Reading a request body in the pipeline's own phases (include-body hooks, function targets)
//! under the same total deadline as a body Pingora forwards.

use bytes::Bytes;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};

use crate::config::Limits;

/// When the body of a request whose header arrived at `started` must have arrived by.
pub fn deadline(started: std::time::Instant, limits: &Limits) -> tokio::time::Instant {
    (started + limits.request_body_timeout).into()
}

/// The next chunk of the request body, or 408 once `deadline` has passed. Each read is also
/// bounded by the session's read timeout (`limits.request-body-idle-timeout-ms`). A read that
/// fails is the viewer's doing (a malformed chunked body, a connection gone) and is marked so,
/// as Pingora marks the body it forwards: the failure path answers it 400 or not at all,
/// never 500.
pub async fn next_chunk(
    session: &mut Session,
    deadline: tokio::time::Instant,
) -> pingora::Result<Option<Bytes>> {
    match tokio::time::timeout_at(deadline, session.read_request_body()).await {
        Ok(chunk) => chunk.map_err(|e| e.into_down()),
        Err(_) => Error::e_explain(
            ErrorType::HTTPStatus(408),
            "request body not received in time",
        ),
    }
}
