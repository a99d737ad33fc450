//! Serving a behavior whose origin is a function target group: the request becomes the ALB
//! event, the function's result becomes the response (which then passes the response triggers).

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::context::RequestContext;
use super::event_wire::request_headers;
use super::failures::{refuse_for_target, send_target_error};
use super::head_size::{HeadLimits, HeadSizes};
use super::request_body;
use super::triggers::Triggers;
use crate::lambda::{HttpRequestParts, HttpResponseParts, MAX_REQUEST_BODY};
use crate::origins::{LocalBody, LocalResponse, TargetGroup};

/// Answers the request from `group`, with the ALB's error statuses: WebSocket upgrade 400, body
/// over 1 MB 413, malformed result or function failure 502, no answer in time 504. The response
/// then passes origin-response and viewer-response.
pub async fn serve(
    triggers: &Triggers,
    group: &TargetGroup,
    session: &mut Session,
    ctx: &mut RequestContext,
) -> pingora::Result<()> {
    let req = session.req_header();
    let upgrade = req
        .headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if upgrade.eq_ignore_ascii_case("websocket") {
        return refuse_for_target(
            session,
            ctx,
            StatusCode::BAD_REQUEST,
            "WebSocket upgrade to a function target",
            "WebSockets are not supported by function targets",
        )
        .await;
    }
    let raw = (!session.is_http2()).then(|| session.as_downstream().to_h1_raw());
    let sizes = HeadSizes::measure(session.req_header(), raw.as_deref());
    if let Some((status, reason)) = HeadLimits::ALB.check(sizes) {
        return refuse_for_target(
            session,
            ctx,
            status,
            "request head over the ALB's limits for a function target",
            reason,
        )
        .await;
    }
    let deadline = request_body::deadline(ctx.started, &ctx.generation.config.limits);
    let Some(body) = read_body(session, MAX_REQUEST_BODY, deadline).await? else {
        return refuse_for_target(
            session,
            ctx,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body over 1 MB for a function target",
            "request body over 1 MB",
        )
        .await;
    };
    let req = session.req_header();
    let parts = HttpRequestParts {
        method: req.method.as_str().to_string(),
        path: req.uri.path().to_string(),
        query: req.uri.query().unwrap_or("").to_string(),
        headers: request_headers(req)
            .iter()
            .map(|l| (l.key.clone(), l.value.clone()))
            .collect(),
        body,
        client_ip: ctx.viewer.client_ip.map(|ip| ip.to_string()),
        port: session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port())
            .unwrap_or(0),
        proto: ctx.viewer.scheme,
    };
    let started = std::time::Instant::now();
    let (result, report) = group.call(&parts, &ctx.request_id).await;
    ctx.origin_latency = Some(started.elapsed());
    if let (Some(report), Some(function)) = (&report, group.function_name()) {
        triggers.metrics.observe_billing(function, report);
    }
    // The result readers checked every field for the wire; a header Pingora still refuses
    // is a malformed result all the same.
    let result = result.and_then(|r| {
        result_header(&r)
            .map(|header| (header, r.body))
            .map_err(|e| group.error(502, format!("malformed result: {e}")))
    });
    match result {
        Ok((header, body)) => {
            let body = if body.is_empty() {
                LocalBody::Empty
            } else {
                LocalBody::Bytes(body)
            };
            triggers
                .send_local(session, ctx, LocalResponse { header, body }, true)
                .await
        }
        Err(e) => send_target_error(session, ctx, e).await,
    }
}

/// The response header for a function's result.
fn result_header(r: &HttpResponseParts) -> pingora::Result<ResponseHeader> {
    let mut header = ResponseHeader::build(r.status, Some(r.headers.len() + 1))?;
    if let Some(reason) = &r.reason {
        header.set_reason_phrase(Some(reason))?;
    }
    for (name, value) in &r.headers {
        header.append_header(name.clone(), value.as_str())?;
    }
    header.insert_header("content-length", r.body.len().to_string())?;
    Ok(header)
}

/// The whole request body, or `None` when it is longer than `limit`.
async fn read_body(
    session: &mut Session,
    limit: usize,
    deadline: tokio::time::Instant,
) -> pingora::Result<Option<Bytes>> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = request_body::next_chunk(session, deadline).await? {
        buf.extend_from_slice(&chunk);
        if buf.len() > limit {
            return Ok(None);
        }
    }
    Ok(Some(buf.freeze()))
}
