//! Serving a behavior whose origin is a function target group: the request becomes the ALB
//! event, the function's result becomes the response (which then passes the response triggers).

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::context::RequestContext;
use super::event_wire::request_headers;
use super::failures::{refuse_event, refuse_for_target, send_target_error};
use super::forwarding::REQUEST_ID;
use super::head_size::{HeadLimits, HeadSizes};
use super::request_body;
use super::triggers::Triggers;
use crate::lambda::{HttpRequestParts, HttpResponseParts, MAX_REQUEST_BODY};
use crate::origins::{LocalBody, LocalResponse, TargetGroup};
use crate::queue::{EventQueue, NewEvent, QueueError};

/// Largest event an asynchronous invocation takes (Lambda's 1 MB since October 2025).
const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// Answers the request from `group`, with the ALB's error statuses: WebSocket upgrade 400, body
/// over 1 MB 413, malformed result or function failure 502, no answer in time 504. The response
/// then passes origin-response and viewer-response.
pub async fn serve(
    triggers: &Triggers,
    events: Option<&EventQueue>,
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
        client_ip: ctx.viewer.client_ip().map(|ip| ip.to_string()),
        port: session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port())
            .unwrap_or(0),
        proto: ctx.viewer.scheme,
    };
    if group.event_config().is_some() {
        return accept_event(triggers, events, group, parts, session, ctx).await;
    }
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

/// Queues the request's event for an event origin and answers 202 with its request id once it
/// is on disk; an event over the 1 MB asynchronous payload limit gets 413, a full or failing
/// queue 503. The 202 passes viewer-response like any response.
async fn accept_event(
    triggers: &Triggers,
    events: Option<&EventQueue>,
    group: &TargetGroup,
    mut parts: HttpRequestParts,
    session: &mut Session,
    ctx: &mut RequestContext,
) -> pingora::Result<()> {
    let refused = |reason: &str| {
        triggers
            .metrics
            .events
            .refused
            .with_label_values(&[ctx.origin_name(), reason])
            .inc()
    };
    // The request id goes into the event, where a function deduplicates by it: the same id
    // on every attempt, across restarts.
    parts
        .headers
        .push((REQUEST_ID.to_string(), ctx.request_id.to_string()));
    let payload = match group.event_json(&parts, &ctx.request_id) {
        Ok(payload) => payload,
        Err(e) => return send_target_error(session, ctx, e).await,
    };
    if payload.len() > MAX_ASYNC_PAYLOAD {
        refused("too-large");
        let e = group.error(
            413,
            format!(
                "event is {} bytes, over the {MAX_ASYNC_PAYLOAD}-byte limit of asynchronous invocation",
                payload.len()
            ),
        );
        return refuse_event(session, ctx, e).await;
    }
    let Some(queue) = events else {
        refused("store");
        let e = group.error(503, "the event queue is not open (restart to open it)");
        return refuse_event(session, ctx, e).await;
    };
    let queued = queue
        .enqueue(NewEvent {
            origin: ctx.origin_name().to_string(),
            request_id: ctx.request_id.to_string(),
            payload,
        })
        .await;
    if let Err(e) = queued {
        refused(match e {
            QueueError::Full(_) => "full",
            QueueError::Store(_) => "store",
        });
        return refuse_event(session, ctx, group.error(503, e.to_string())).await;
    }
    triggers
        .metrics
        .events
        .accepted
        .with_label_values(&[ctx.origin_name()])
        .inc();
    let body = serde_json::json!({ "requestId": &*ctx.request_id })
        .to_string()
        .into_bytes();
    let mut header = ResponseHeader::build(202, Some(3))?;
    header.insert_header("Content-Type", "application/json")?;
    header.insert_header("x-amzn-RequestId", &*ctx.request_id)?;
    header.insert_header("Content-Length", body.len().to_string())?;
    let response = LocalResponse {
        header,
        body: LocalBody::Bytes(Bytes::from(body)),
    };
    triggers.send_local(session, ctx, response, true).await
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
    header.insert_header("Content-Length", r.body.len().to_string())?;
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
