//! [`EdgeProxy`]: the `ProxyHttp` implementation. Each phase is one method; read top to bottom
//! it is the path of a request through the edge node.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use http::StatusCode;
use pingora::cache::key::HashBinary;
use pingora::cache::{
    CacheKey, CacheMeta, CachePhase, NoCacheReason, RespCacheable, VarianceBuilder,
};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::context::{BodySwap, LocalRoute, RequestContext};
use super::failures::{hook_error, proxy_failure};
use super::forwarding::{self, REQUEST_ID};
use super::local_origin::{LocalOrigins, LOCAL_ORIGIN, LOCAL_RESPONSE};
use super::respond::{X_CACHE_HIT, X_CACHE_MISS, X_CACHE_REFRESH_HIT};
use super::triggers::{RequestStep, Triggers};
use super::viewer::Viewer;
use super::{function_target, hygiene, respond};
use crate::cache::{self, EdgeCache};
use crate::listen::HeaderDeadline;
use crate::node::Node;
use crate::observe::{AccessLogLine, Metrics};
use crate::origins::OriginHandle;
use edge_event::{CustomOrigin, EventType};

/// The edge node's request pipeline. The configuration, origins and functions a request sees
/// are those of the generation it started on ([`RequestContext::generation`]).
pub struct EdgeProxy {
    node: Arc<Node>,
    metrics: Arc<Metrics>,
    cache: EdgeCache,
    local: Arc<LocalOrigins>,
    triggers: Triggers,
}

impl EdgeProxy {
    /// A pipeline over `node`'s generations and the cache.
    pub fn new(
        node: Arc<Node>,
        metrics: Arc<Metrics>,
        cache: EdgeCache,
        local: Arc<LocalOrigins>,
    ) -> Self {
        EdgeProxy {
            triggers: Triggers::new(metrics.clone(), local.clone()),
            node,
            metrics,
            cache,
            local,
        }
    }
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestContext;

    fn new_ctx(&self) -> RequestContext {
        RequestContext::new(self.node.current())
    }

    /// Viewer side: refuse bad framing, detect loops, pick the behavior, and answer `files`
    /// origins here. Returns `true` when the response has been sent.
    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<bool> {
        if let Some(connection) = viewer_connection(session) {
            connection.head_read();
        }
        session
            .downstream_session
            .set_read_timeout(Some(ctx.generation.config.limits.request_body_idle_timeout));
        let raw = (!session.is_http2()).then(|| session.as_downstream().to_h1_raw());
        let max_header_bytes = ctx.generation.config.limits.max_request_header_bytes;
        if let Some(rejection) =
            hygiene::screen(session.req_header_mut(), raw.as_deref(), max_header_bytes)
        {
            ctx.error = Some(rejection.reason.into());
            respond::text(
                session,
                rejection.status,
                rejection.reason,
                &ctx.request_id,
                rejection.close,
            )
            .await?;
            return Ok(true);
        }
        let req = session.req_header();
        if forwarding::has_looped(
            req.headers.get_all("cdn-loop").iter().map(|v| v.as_bytes()),
            &ctx.generation.config.node.name,
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

        ctx.viewer = Viewer::of(session);
        let req = session.req_header();
        let config = &ctx.generation.config;
        let behavior = config.behavior_for(ctx.viewer.host(), req.uri.path());
        ctx.behavior = Some(
            config
                .behaviors
                .iter()
                .position(|b| std::ptr::eq(b, behavior))
                .expect("behavior comes from the list"),
        );
        ctx.origin = behavior.origin.clone();

        // Viewer-request runs on every request, before the cache.
        match self
            .triggers
            .request(EventType::ViewerRequest, session, ctx)
            .await?
        {
            RequestStep::Done => Ok(true),
            RequestStep::Continue => Ok(false),
        }
    }

    /// Turns the cache on for requests the behavior's policy lets it store: `GET`/`HEAD`,
    /// without `Authorization` unless the policy allows it, not to an ALB-style target group.
    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestContext) -> Result<()> {
        let Some(policy) = ctx
            .generation
            .behavior(ctx.behavior)
            .and_then(|b| b.cache.as_ref())
        else {
            return Ok(());
        };
        let req = session.req_header();
        if !matches!(req.method, http::Method::GET | http::Method::HEAD)
            || (!policy.cache_authorized && req.headers.contains_key(http::header::AUTHORIZATION))
            || matches!(
                ctx.generation.origins.get(&ctx.origin),
                Some(OriginHandle::Function(_))
            )
        {
            return Ok(());
        }
        session
            .cache
            .enable(self.cache.store, None, None, Some(self.cache.lock), None);
        session
            .cache
            .set_max_file_size_bytes(self.cache.max_object_bytes);
        Ok(())
    }

    /// Host + path + what the behavior's cache policy names.
    fn cache_key_callback(&self, session: &Session, ctx: &mut RequestContext) -> Result<CacheKey> {
        let Some(policy) = ctx
            .generation
            .behavior(ctx.behavior)
            .and_then(|b| b.cache.as_ref())
        else {
            return Error::e_explain(ErrorType::InternalError, "cache on without a policy");
        };
        let req = session.req_header();
        let primary = cache::key::primary_key(
            policy,
            ctx.viewer.scheme,
            ctx.viewer.host(),
            req.uri.path(),
            req.uri.query(),
            &req.headers,
        );
        Ok(cache::key::cache_key(primary))
    }

    /// A stored response's `Vary` names the request headers that select among its variants.
    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        _ctx: &mut RequestContext,
        req: &RequestHeader,
    ) -> Option<HashBinary> {
        let mut variance = VarianceBuilder::new();
        for vary in meta.headers().get_all(http::header::VARY) {
            for name in vary.to_str().unwrap_or("").split(',') {
                let name = name.trim().to_ascii_lowercase();
                if name.is_empty() {
                    continue;
                }
                let value: Vec<u8> = req
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .flat_map(|v| v.as_bytes().iter().copied().chain([b',']))
                    .collect();
                variance.add_owned_name_value(name, value);
            }
        }
        variance.finalize()
    }

    /// Whether the response (as origin-response left it) is stored, and for how long.
    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<RespCacheable> {
        Ok(
            match ctx
                .generation
                .behavior(ctx.behavior)
                .and_then(|b| b.cache.as_ref())
            {
                Some(policy) => match cache::policy::response_cacheable(policy, resp) {
                    // The store refuses the object if a purge ran since its fetch began.
                    RespCacheable::Cacheable(mut meta) => {
                        if let Some(epoch) = ctx.purge_epoch {
                            meta.extensions_mut().insert(epoch);
                        }
                        RespCacheable::Cacheable(meta)
                    }
                    uncacheable => uncacheable,
                },
                None => RespCacheable::Uncacheable(NoCacheReason::NeverEnabled),
            },
        )
    }

    /// Stale objects are served while revalidating (`stale-while-revalidate`, when the object
    /// allows it) and when the origin fails (`stale-if-error`).
    fn should_serve_stale(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestContext,
        error: Option<&Error>,
    ) -> bool {
        error.is_none_or(|e| {
            e.esource() == &ErrorSource::Upstream
                || matches!(e.etype(), ErrorType::HTTPStatus(code) if *code >= 500)
        })
    }

    /// Origin side, reached only on a cache miss (or for uncached requests): origin-request
    /// runs here, then `files` and `function` origins are answered. On cacheable behaviors
    /// `files` origins and generated responses go through the local-origin server instead, so
    /// the cache stores them.
    async fn proxy_upstream_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<bool> {
        if session.cache.enabled() {
            // The fetch begins: a purge from now on wins over what it brings back.
            ctx.purge_epoch = Some(self.cache.store.purge_epoch());
        }
        if let RequestStep::Done = self
            .triggers
            .request(EventType::OriginRequest, session, ctx)
            .await?
        {
            return Ok(false);
        }
        if ctx.local.is_some() || ctx.custom_origin.is_some() {
            return Ok(true);
        }
        match ctx.generation.origins.get(&ctx.origin) {
            Some(OriginHandle::Http(_)) => return Ok(true),
            Some(OriginHandle::Files(_)) if session.cache.enabled() => {
                ctx.local = Some(LocalRoute::Files);
                return Ok(true);
            }
            Some(_) => {}
            None => {
                return Error::e_explain(
                    ErrorType::InternalError,
                    format!("origin \"{}\" not built", ctx.origin),
                )
            }
        }
        // Answered here: the request's context is lent to the answer, so the generation is
        // held by a clone of its own.
        let generation = ctx.generation.clone();
        match generation.origins.get(&ctx.origin) {
            Some(OriginHandle::Files(bucket)) => {
                let response = bucket.respond(session.req_header()).await;
                self.triggers
                    .send_local(session, ctx, response, true)
                    .await?;
            }
            Some(OriginHandle::Function(group)) => {
                function_target::serve(&self.triggers, group, session, ctx).await?;
            }
            _ => unreachable!("http origins and missing ones returned above"),
        }
        Ok(false)
    }

    /// Bounds the time a request body may take, and replays a request body a hook replaced:
    /// the replacement goes out, the original is dropped.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        // A body that stalls is cut by the per-read (idle) timeout; one that trickles is cut here.
        if !end_of_stream
            && ctx.started.elapsed() > ctx.generation.config.limits.request_body_timeout
        {
            return Error::e_explain(
                ErrorType::HTTPStatus(408),
                "request body not received in time",
            );
        }
        if let Some(swap) = &mut ctx.request_body_swap {
            swap.apply(body);
        }
        Ok(())
    }

    /// Picks a healthy server of the behavior's `http` origin that has not failed this request yet.
    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<Box<HttpPeer>> {
        if ctx.local.is_some() {
            return self.local.peer();
        }
        if let Some(custom) = &ctx.custom_origin {
            return custom_peer(custom).await;
        }
        let origin = ctx.origin.as_str();
        let Some(OriginHandle::Http(upstream)) = ctx.generation.origins.get(origin) else {
            return Error::e_explain(ErrorType::InternalError, "behavior has no http origin");
        };
        let key = session.req_header().uri.path().as_bytes();
        let peer = upstream.select(key, &ctx.tried).map_err(|e| {
            self.metrics
                .upstream_errors
                .with_label_values(&[origin, "no-healthy-server"])
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
        let origin = ctx.origin.as_str();
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
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        forwarding::add_to_origin_request(
            upstream_request,
            &ctx.viewer,
            &ctx.generation.node_headers,
            &ctx.request_id,
        )?;
        // Only the pipeline names what the local-origin server serves: the viewer's copies of
        // these headers were dropped at the edge and hooks may not write `x-edge-*`; still, the
        // one set here replaces any other, and the other selector is removed.
        match ctx.local {
            Some(LocalRoute::Files) => {
                upstream_request.remove_header(LOCAL_RESPONSE);
                let route = format!("{} {}", ctx.generation.number, ctx.origin);
                upstream_request.insert_header(LOCAL_ORIGIN, route)?
            }
            Some(LocalRoute::Generated) => {
                upstream_request.remove_header(LOCAL_ORIGIN);
                upstream_request.insert_header(LOCAL_RESPONSE, ctx.request_id.as_str())?
            }
            None => {}
        }
        if let Some(custom) = &ctx.custom_origin {
            if !custom.path.is_empty() {
                let uri = format!("{}{}", custom.path, upstream_request.uri.path());
                let query = upstream_request.uri.query().unwrap_or("").to_string();
                super::hook_events::apply_uri(upstream_request, &uri, &query)?;
            }
            for line in custom.custom_headers.iter() {
                upstream_request.insert_header(line.key.clone(), line.value.as_str())?;
            }
        } else if let Some(OriginHandle::Http(upstream)) = ctx.generation.origins.get(&ctx.origin) {
            if let Some(h) = &upstream.config().host_header {
                upstream_request.insert_header(http::header::HOST, h)?;
            }
        }
        if let Some(len) = ctx.request_body_swap.as_ref().and_then(BodySwap::len) {
            upstream_request.remove_header("transfer-encoding");
            upstream_request.insert_header("content-length", len.to_string())?;
        }
        ctx.origin_sent = Some(Instant::now());
        Ok(())
    }

    /// The origin answered: record its latency, then run origin-response (before any cache).
    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        if let Some(sent) = ctx.origin_sent {
            let latency = sent.elapsed();
            ctx.origin_latency = Some(latency);
            self.metrics
                .origin_latency
                .with_label_values(&[ctx.origin.as_str()])
                .observe(latency.as_secs_f64());
        }
        if ctx.local == Some(LocalRoute::Generated) {
            // CloudFront runs no origin-response on an origin-request generated response.
            return Ok(());
        }
        match self
            .triggers
            .response(EventType::OriginResponse, session, ctx, upstream_response)
            .await
        {
            Ok(body) => {
                ctx.origin_body_swap = body.map(BodySwap::new);
                Ok(())
            }
            Err(e) => hook_error(ctx, e),
        }
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestContext,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(swap) = &mut ctx.origin_body_swap {
            swap.apply(body);
        }
        Ok(None)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestContext,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(swap) = &mut ctx.viewer_body_swap {
            swap.apply(body);
        }
        Ok(None)
    }

    /// Viewer side of the response: `Via` and the request id, as a CDN adds them.
    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        let via = forwarding::extend_list(
            &upstream_response.headers,
            "via",
            ctx.generation
                .node_headers
                .via(session.req_header().version),
        );
        upstream_response.insert_header("via", via)?;
        let x_cache = match session.cache.phase() {
            CachePhase::Hit | CachePhase::Stale | CachePhase::StaleUpdating => X_CACHE_HIT,
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => X_CACHE_REFRESH_HIT,
            _ => X_CACHE_MISS,
        };
        // Static: no copy of the text per response.
        let x_cache = http::HeaderValue::from_static(x_cache);
        upstream_response.insert_header("x-cache", x_cache)?;
        match self
            .triggers
            .response(EventType::ViewerResponse, session, ctx, upstream_response)
            .await
        {
            Ok(body) => ctx.viewer_body_swap = body.map(BodySwap::new),
            Err(e) => return hook_error(ctx, e),
        }
        upstream_response.insert_header(REQUEST_ID, &ctx.request_id)?;
        Ok(())
    }

    /// Pingora's error path, for failures of any phase: the status is decided in
    /// [`proxy_failure`](super::failures::proxy_failure).
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestContext,
    ) -> FailToProxy {
        proxy_failure(session, e, ctx, &self.metrics).await
    }

    /// One access-log line and the request counters.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestContext) {
        if let Some(connection) = viewer_connection(session) {
            connection.request_done();
        }
        let status = session.response_written().map(|r| r.status);
        let behavior = ctx.generation.behavior(ctx.behavior);
        let behavior_name = behavior.map(|b| b.name.as_str()).unwrap_or("");
        self.metrics
            .requests
            .with_label_values(&[behavior_name, status.as_ref().map_or("0", |s| s.as_str())])
            .inc();
        let status = status.map_or(0, |s| s.as_u16());
        if ctx.local == Some(LocalRoute::Generated) {
            self.local.release(&ctx.request_id);
        }
        let cache_result = match session.cache.phase() {
            CachePhase::Hit => Some("hit"),
            CachePhase::Stale | CachePhase::StaleUpdating => Some("stale"),
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => Some("refresh-hit"),
            CachePhase::Miss | CachePhase::Expired => Some("miss"),
            CachePhase::Disabled(NoCacheReason::NeverEnabled) => None,
            _ => Some("uncacheable"),
        };
        if let Some(result) = cache_result {
            self.metrics
                .cache_requests
                .with_label_values(&[behavior_name, result])
                .inc();
        }
        if session.cache.lock_duration().is_some() {
            self.metrics.cache_lock_waits.inc();
        }
        if !ctx.generation.config.node.access_log {
            return;
        }
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
            host: ctx.viewer.host(),
            path,
            status,
            bytes: session.body_bytes_sent(),
            duration_ms: ctx.started.elapsed().as_secs_f64() * 1000.0,
            origin_ms: ctx.origin_latency.map(|d| d.as_secs_f64() * 1000.0),
            behavior: behavior_name,
            origin: &ctx.origin,
            error,
        }
        .emit();
    }
}

/// The deadlines of the viewer's HTTP/1 connection, which the pipeline tells where a request
/// starts and ends.
fn viewer_connection(session: &Session) -> Option<&HeaderDeadline> {
    session
        .as_downstream()
        .stream()?
        .as_any()
        .downcast_ref::<HeaderDeadline>()
}

/// A peer for a custom origin an origin-request hook chose.
async fn custom_peer(origin: &CustomOrigin) -> Result<Box<HttpPeer>> {
    let target = format!("{}:{}", origin.domain_name, origin.port);
    let addr = tokio::net::lookup_host(&target)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            let mut e = Error::explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve custom origin {target}"),
            );
            e.as_up();
            e
        })?;
    let tls = origin.protocol == "https";
    let mut peer = HttpPeer::new(
        addr,
        tls,
        if tls {
            origin.domain_name.clone()
        } else {
            String::new()
        },
    );
    peer.options.read_timeout = Some(std::time::Duration::from_secs(
        origin.read_timeout.max(1) as u64
    ));
    peer.options.idle_timeout = Some(std::time::Duration::from_secs(
        origin.keepalive_timeout.max(1) as u64,
    ));
    peer.options.connection_timeout = Some(std::time::Duration::from_secs(10));
    Ok(Box::new(peer))
}
