//! Every failure on a request's way mapped to the viewer's response, in one place: a hook's
//! (502 invalid result, 503 execution error), a function target's (the ALB's 400/413/502/504),
//! an origin's (502, or 504 when it timed out) and the viewer's own (400, 408). The status a
//! viewer sees for a given failure is decided here and nowhere else.

use http::StatusCode;
use pingora::proxy::{FailToProxy, Session};
use pingora::{Error, ErrorSource, ErrorType};

use super::context::RequestContext;
use super::respond;
use crate::hooks::HookError;
use crate::observe::Metrics;
use crate::origins::TargetError;

/// The status and one-line message for a failed hook.
fn hook_status(e: &HookError) -> (StatusCode, &'static str) {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = match e {
        HookError::Invalid { .. } => "the edge function returned an invalid result",
        _ => "the edge function failed",
    };
    (status, message)
}

/// Answers with the status a failed hook maps to (request triggers, and the response triggers
/// of responses the node sends itself).
pub async fn send_hook_error(
    session: &mut Session,
    ctx: &mut RequestContext,
    e: &HookError,
) -> pingora::Result<()> {
    ctx.error = Some(e.to_string());
    let (status, message) = hook_status(e);
    respond::text(session, status, message, &ctx.request_id, false).await
}

/// A hook failed in one of Pingora's response phases: its error path ([`proxy_failure`])
/// answers with the hook's status.
pub fn hook_error(ctx: &mut RequestContext, e: HookError) -> pingora::Result<()> {
    ctx.error = Some(e.to_string());
    let (status, message) = hook_status(&e);
    Error::e_explain(ErrorType::HTTPStatus(status.as_u16()), message)
}

/// Answers with the status a failed function target maps to, as the ALB reports it.
pub async fn send_target_error(
    session: &mut Session,
    ctx: &mut RequestContext,
    e: TargetError,
) -> pingora::Result<()> {
    send_target_failure(session, ctx, e, None).await
}

/// Refuses an event an event origin cannot queue (413 too large, 503 queue full or failing),
/// saying why in the body: the viewer may retry a 503, never a 413.
pub async fn refuse_event(
    session: &mut Session,
    ctx: &mut RequestContext,
    e: TargetError,
) -> pingora::Result<()> {
    let body = format!("event not accepted: {}", e.reason);
    send_target_failure(session, ctx, e, Some(body)).await
}

/// Logs `e`, records it for the access log and answers with its status and `body` (by
/// default a body that names no internals).
async fn send_target_failure(
    session: &mut Session,
    ctx: &mut RequestContext,
    e: TargetError,
    body: Option<String>,
) -> pingora::Result<()> {
    tracing::warn!(
        target_group = %e.target_group,
        target = %e.target,
        request_id = %ctx.request_id,
        status = e.status,
        "function target failed: {}",
        e.reason
    );
    ctx.error = Some(e.to_string());
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = body.as_deref().unwrap_or("the function target failed");
    respond::text(session, status, body, &ctx.request_id, false).await
}

/// Refuses a request a function target cannot take (the ALB's 400 and 413), closing the
/// connection: its body was not read.
pub async fn refuse_for_target(
    session: &mut Session,
    ctx: &mut RequestContext,
    status: StatusCode,
    why: &str,
    message: &str,
) -> pingora::Result<()> {
    ctx.error = Some(why.into());
    respond::text(session, status, message, &ctx.request_id, true).await
}

/// The message the phase that chose an `HTTPStatus` error gave it. Pingora wraps an error raised
/// while a request is at an origin (its response phases, where origin-response runs) in one of
/// the same type whose context names the origin server's address (`error_while_proxy`): no
/// message for a viewer, and an address the node does not show.
fn status_message(e: &Error) -> String {
    let mut chosen = e;
    // The wrapped error is held boxed twice over (`Error::because` takes any error).
    while let Some(cause) = chosen
        .cause
        .as_deref()
        .and_then(|c| c.downcast_ref::<Box<Error>>())
        .map(|b| &**b)
        .filter(|c| matches!(c.etype, ErrorType::HTTPStatus(_)))
    {
        chosen = cause;
    }
    chosen
        .context
        .as_ref()
        .map_or_else(|| "error".into(), |c| c.to_string())
}

/// Pingora's error path (`fail_to_proxy`): origin failures become 502 (refused, unreachable,
/// broken) or 504 (timed out) with a short body naming the origin; a status an earlier phase
/// chose (`HTTPStatus`) is sent as is; a viewer that went away gets nothing.
pub async fn proxy_failure(
    session: &mut Session,
    e: &Error,
    ctx: &mut RequestContext,
    metrics: &Metrics,
) -> FailToProxy {
    let origin = ctx.origin_name().to_string();
    let count = |kind: &str| {
        metrics
            .upstream_errors
            .with_label_values(&[&origin, kind])
            .inc()
    };
    let (status, message) = match (e.esource(), e.etype()) {
        (_, ErrorType::HTTPStatus(code)) => (
            StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
            status_message(e),
        ),
        (
            ErrorSource::Upstream,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout,
        ) => {
            count("timeout");
            (
                StatusCode::GATEWAY_TIMEOUT,
                format!("origin \"{origin}\" timed out"),
            )
        }
        (ErrorSource::Upstream, etype) => {
            // Connection failures were counted where they happened (`fail_to_connect`).
            if !matches!(
                etype,
                ErrorType::ConnectNoRoute | ErrorType::ConnectRefused | ErrorType::ConnectError
            ) {
                count("io");
            }
            (
                StatusCode::BAD_GATEWAY,
                format!("origin \"{origin}\" is unreachable or failed"),
            )
        }
        (
            ErrorSource::Downstream,
            ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
        ) => {
            ctx.error = Some(format!("viewer connection: {e}"));
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        (ErrorSource::Downstream, ErrorType::ReadTimedout) => (
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time".to_string(),
        ),
        (ErrorSource::Downstream, _) => (StatusCode::BAD_REQUEST, "malformed request".to_string()),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error".to_string(),
        ),
    };
    ctx.error.get_or_insert_with(|| e.to_string());
    tracing::warn!(
        status = status.as_u16(),
        origin,
        request_id = %ctx.request_id,
        "request failed: {e}"
    );
    if session.response_written().is_none() {
        let _ = respond::text(session, status, &message, &ctx.request_id, false).await;
    }
    FailToProxy {
        error_code: status.as_u16(),
        can_reuse_downstream: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_phases_not_the_peer_pingora_wrapped_it_in() {
        let chosen = Error::explain(ErrorType::HTTPStatus(503), "the edge function failed");
        let wrapped = chosen.more_context("Peer: addr: 10.0.0.7:8080, scheme: HTTP");
        assert_eq!(status_message(&wrapped), "the edge function failed");
        let plain = Error::explain(
            ErrorType::HTTPStatus(408),
            "request body not received in time",
        );
        assert_eq!(status_message(&plain), "request body not received in time");
        // A cause of another kind is not the message.
        let over_io = Error::because(
            ErrorType::HTTPStatus(502),
            "origin failed",
            Error::explain(ErrorType::ConnectRefused, "10.0.0.7:8080 refused"),
        );
        assert_eq!(status_message(&over_io), "origin failed");
    }
}
