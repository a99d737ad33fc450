//! Serving a behavior whose origin is a function target group: the request becomes the ALB
//! event, the function's result becomes the response (which then passes the response triggers).

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::context::RequestContext;
use super::hook_events::request_headers;
use super::proxy::EdgeProxy;
use super::respond;
use crate::config::Behavior;
use crate::events::alb::{HttpRequestParts, MAX_REQUEST_BODY};
use crate::origins::{FileBody, FileResponse, TargetGroup};

impl EdgeProxy {
    /// Answers the request from `group`, with the ALB's error statuses: WebSocket upgrade 400,
    /// body over 1 MB 413, malformed result or function failure 502, no answer in time 504.
    pub(super) async fn serve_target_group(
        &self,
        group: &TargetGroup,
        behavior: &Behavior,
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
            ctx.error = Some("WebSocket upgrade to a function target".into());
            return respond::text(
                session,
                StatusCode::BAD_REQUEST,
                "WebSockets are not supported by function targets",
                &ctx.request_id,
                true,
            )
            .await;
        }
        let Some(body) = read_body(session, MAX_REQUEST_BODY).await? else {
            ctx.error = Some("request body over 1 MB for a function target".into());
            return respond::text(
                session,
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over 1 MB",
                &ctx.request_id,
                true,
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
            client_ip: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip().to_string()),
            port: session
                .server_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.port())
                .unwrap_or(0),
            proto: if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
                "https"
            } else {
                "http"
            },
        };
        let started = std::time::Instant::now();
        let result = group.call(&parts, &ctx.request_id).await;
        ctx.origin_latency = Some(started.elapsed());
        match result {
            Ok(r) => {
                let mut header = ResponseHeader::build(r.status, Some(r.headers.len() + 1))?;
                if let Some(reason) = &r.reason {
                    header.set_reason_phrase(Some(reason))?;
                }
                for (name, value) in &r.headers {
                    header.append_header(name.clone(), value.as_str())?;
                }
                header.insert_header("content-length", r.body.len().to_string())?;
                let body = if r.body.is_empty() {
                    FileBody::Empty
                } else {
                    FileBody::Bytes(r.body)
                };
                self.send_local(session, ctx, behavior, FileResponse { header, body }, true)
                    .await
            }
            Err(e) => {
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
                respond::text(
                    session,
                    status,
                    "the function target failed",
                    &ctx.request_id,
                    false,
                )
                .await
            }
        }
    }
}

/// The whole request body, or `None` when it is longer than `limit`.
async fn read_body(session: &mut Session, limit: usize) -> pingora::Result<Option<Bytes>> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() > limit {
            return Ok(None);
        }
    }
    Ok(Some(buf.freeze()))
}
