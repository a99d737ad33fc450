//! [`EdgeProxy`]: the `ProxyHttp` implementation. Each phase is one method; read top to bottom
//! it is the path of a request through the edge node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use http::StatusCode;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::context::RequestContext;
use super::forwarding::{self, Viewer, REQUEST_ID};
use super::{hygiene, respond};
use crate::config::{Behavior, Config};
use crate::observe::{AccessLogLine, Metrics};
use crate::origins::{FileBody, FilesBucket, OriginHandle};

/// The edge node's request pipeline.
pub struct EdgeProxy {
    config: Arc<Config>,
    origins: HashMap<String, OriginHandle>,
    metrics: Arc<Metrics>,
}

impl EdgeProxy {
    /// A pipeline over `config`'s behaviors and the `origins` built from it.
    pub fn new(
        config: Arc<Config>,
        origins: HashMap<String, OriginHandle>,
        metrics: Arc<Metrics>,
    ) -> Self {
        EdgeProxy {
            config,
            origins,
            metrics,
        }
    }

    fn behavior(&self, ctx: &RequestContext) -> Option<&Behavior> {
        ctx.behavior.map(|i| &self.config.behaviors[i])
    }

    /// Serves a `files` origin request directly from disk.
    async fn serve_files(
        &self,
        bucket: &FilesBucket,
        session: &mut Session,
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut response = bucket.respond(session.req_header()).await;
        response.header.insert_header(REQUEST_ID, &ctx.request_id)?;
        let empty = matches!(response.body, FileBody::Empty);
        session
            .write_response_header(Box::new(response.header), empty)
            .await?;
        if empty {
            return Ok(());
        }
        // The file is read in bounded chunks and each one written before the next is read.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
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
}

/// The host a request is for, without a port: `Host`, or the authority of HTTP/2 requests.
fn request_host(req: &RequestHeader) -> &str {
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    if let Some(end) = host.find(']') {
        return &host[..=end]; // IPv6 literal
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestContext;

    fn new_ctx(&self) -> RequestContext {
        RequestContext::new()
    }

    /// Viewer side: refuse bad framing, detect loops, pick the behavior, and answer `files`
    /// origins here. Returns `true` when the response has been sent.
    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<bool> {
        if !session.is_http2() {
            let raw = session.as_downstream().to_h1_raw();
            if let Some(rejection) =
                hygiene::check_raw_header(&raw, self.config.limits.max_request_header_bytes)
            {
                ctx.error = Some(rejection.reason.into());
                respond::text(
                    session,
                    rejection.status,
                    rejection.reason,
                    &ctx.request_id,
                    true,
                )
                .await?;
                return Ok(true);
            }
        }
        let req = session.req_header();
        if forwarding::has_looped(
            req.headers.get_all("cdn-loop").iter().map(|v| v.as_bytes()),
            &self.config.node_name,
        ) {
            ctx.error = Some("request loop detected by CDN-Loop".into());
            respond::text(
                session,
                StatusCode::LOOP_DETECTED,
                "request loop detected",
                &ctx.request_id,
                false,
            )
            .await?;
            return Ok(true);
        }

        let index = {
            let behavior = self.config.behavior_for(request_host(req), req.uri.path());
            self.config
                .behaviors
                .iter()
                .position(|b| std::ptr::eq(b, behavior))
                .expect("behavior comes from the list")
        };
        ctx.behavior = Some(index);
        let origin = &self.config.behaviors[index].origin;
        match self.origins.get(origin) {
            Some(OriginHandle::Files(bucket)) => {
                self.serve_files(bucket, session, ctx).await?;
                Ok(true)
            }
            Some(OriginHandle::Http(_)) => Ok(false),
            None => Error::e_explain(
                ErrorType::InternalError,
                format!("origin \"{origin}\" not built"),
            ),
        }
    }

    /// Picks a healthy server of the behavior's `http` origin that has not failed this request yet.
    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<Box<HttpPeer>> {
        let origin = &self.behavior(ctx).expect("routed in request_filter").origin;
        let Some(OriginHandle::Http(upstream)) = self.origins.get(origin) else {
            return Error::e_explain(ErrorType::InternalError, "behavior has no http origin");
        };
        let key = session.req_header().uri.path().as_bytes();
        let peer = upstream.select(key, &ctx.tried).map_err(|e| {
            self.metrics
                .upstream_errors
                .with_label_values(&[origin.as_str(), "no-healthy-server"])
                .inc();
            let mut err = Error::explain(ErrorType::ConnectNoRoute, e.to_string());
            err.as_up();
            err
        })?;
        if let Some(addr) = peer._address.as_inet() {
            ctx.tried.push(*addr);
        }
        Ok(peer)
    }

    /// A server that refuses or times out a connection is skipped and the next healthy one tried.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestContext,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let origin = self.behavior(ctx).map(|b| b.origin.as_str()).unwrap_or("");
        self.metrics
            .upstream_errors
            .with_label_values(&[origin, "connect"])
            .inc();
        tracing::warn!(origin, peer = %peer, request_id = %ctx.request_id, "origin connect failed: {e}");
        e.set_retry(true);
        e
    }

    /// Adds forwarding headers and, when configured, the origin's own `Host`.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        let host = request_host(session.req_header()).to_string();
        let viewer = Viewer {
            client_ip: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip().to_string()),
            proto: if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
                "https"
            } else {
                "http"
            },
            host: &host,
        };
        forwarding::add_to_origin_request(
            upstream_request,
            &viewer,
            &self.config.node_name,
            &ctx.request_id,
        )?;
        let origin = &self.behavior(ctx).expect("routed").origin;
        if let Some(OriginHandle::Http(upstream)) = self.origins.get(origin) {
            if let Some(h) = &upstream.config().host_header {
                upstream_request.insert_header(http::header::HOST, h)?;
            }
        }
        ctx.origin_sent = Some(Instant::now());
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        if let Some(sent) = ctx.origin_sent {
            let latency = sent.elapsed();
            ctx.origin_latency = Some(latency);
            let origin = self.behavior(ctx).map(|b| b.origin.as_str()).unwrap_or("");
            self.metrics
                .origin_latency
                .with_label_values(&[origin])
                .observe(latency.as_secs_f64());
        }
        Ok(())
    }

    /// Viewer side of the response: `Via` and the request id, as a CDN adds them.
    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        let via = format!(
            "{} {}",
            forwarding::http_version(session.req_header()),
            self.config.node_name
        );
        let via = match upstream_response
            .headers
            .get("via")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) => format!("{prior}, {via}"),
            None => via,
        };
        upstream_response.insert_header("via", via)?;
        upstream_response.insert_header(REQUEST_ID, &ctx.request_id)?;
        Ok(())
    }

    /// Origin failures become 502 (refused, unreachable, broken) or 504 (timed out), with a
    /// short body naming the origin.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestContext,
    ) -> FailToProxy {
        let origin = self
            .behavior(ctx)
            .map(|b| b.origin.clone())
            .unwrap_or_default();
        let (status, message) = match (e.esource(), e.etype()) {
            (_, ErrorType::HTTPStatus(code)) => (
                StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
                "error".to_string(),
            ),
            (
                ErrorSource::Upstream,
                ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout,
            ) => {
                self.metrics
                    .upstream_errors
                    .with_label_values(&[&origin, "timeout"])
                    .inc();
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("origin \"{origin}\" timed out"),
                )
            }
            (ErrorSource::Upstream, _) => {
                if !matches!(
                    e.etype(),
                    ErrorType::ConnectNoRoute | ErrorType::ConnectRefused | ErrorType::ConnectError
                ) {
                    self.metrics
                        .upstream_errors
                        .with_label_values(&[&origin, "io"])
                        .inc();
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
            (ErrorSource::Downstream, _) => {
                (StatusCode::BAD_REQUEST, "malformed request".to_string())
            }
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_string(),
            ),
        };
        ctx.error = Some(e.to_string());
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

    /// One access-log line and the request counters.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestContext) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(0);
        let behavior = self.behavior(ctx);
        let behavior_name = behavior.map(|b| b.name.as_str()).unwrap_or("");
        self.metrics
            .requests
            .with_label_values(&[behavior_name, status.to_string().as_str()])
            .inc();
        let req = session.req_header();
        let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let error = ctx.error.take().or_else(|| e.map(|e| e.to_string()));
        AccessLogLine {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            request_id: &ctx.request_id,
            client: session
                .client_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            method: req.method.as_str(),
            host: request_host(req),
            path,
            status,
            bytes: session.body_bytes_sent(),
            duration_ms: ctx.started.elapsed().as_secs_f64() * 1000.0,
            origin_ms: ctx.origin_latency.map(|d| d.as_secs_f64() * 1000.0),
            behavior: behavior_name,
            origin: behavior.map(|b| b.origin.as_str()).unwrap_or(""),
            error,
        }
        .emit();
    }
}
