//! [`EdgeProxy`]: the `ProxyHttp` implementation. Each phase is one method; read top to bottom
//! it is the path of a request through the edge node.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
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
use super::forwarding::{self, REQUEST_ID_KEY};
use super::local_origin::LocalOrigins;
use super::origin_view;
use super::respond::{X_CACHE_HIT, X_CACHE_MISS, X_CACHE_REFRESH_HIT};
use super::triggers::{RequestStep, Triggers};
use super::viewer::Viewer;
use super::{hygiene, origin_head, request_log, target_group, upstream};
use crate::cache::{self, EdgeCache};
use crate::listen::HeaderDeadline;
use crate::node::Node;
use crate::observe::Metrics;
use crate::origins::OriginHandle;
use crate::queue::EventQueue;
use crate::realtime_logs::LogSink;
use edge_event::EventType;

/// The edge node's request pipeline. The configuration, origins and functions a request sees
/// are those of the generation it started on ([`RequestContext::generation`]).
pub struct EdgeProxy {
    node: Arc<Node>,
    metrics: Arc<Metrics>,
    cache: EdgeCache,
    local: Arc<LocalOrigins>,
    triggers: Triggers,
    events: Option<Arc<EventQueue>>,
    realtime: Option<Arc<LogSink>>,
}

impl EdgeProxy {
    /// A pipeline over `node`'s generations and the cache, queueing event invocations in
    /// `events` and offering real-time log records to `realtime`.
    pub fn new(
        node: Arc<Node>,
        metrics: Arc<Metrics>,
        cache: EdgeCache,
        local: Arc<LocalOrigins>,
        events: Option<Arc<EventQueue>>,
        realtime: Option<Arc<LogSink>>,
    ) -> Self {
        EdgeProxy {
            events,
            realtime,
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

    /// Called when a request's head has been read: the request takes the current generation
    /// and keeps it to the end.
    fn new_ctx(&self) -> RequestContext {
        RequestContext::new(self.node.current())
    }

    /// Called first, before the cache: refuse what the head shows to be bad, learn the viewer,
    /// pick the behavior, run viewer-request. Returns `true` when a response has been sent.
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
        if hygiene::refuse_malformed(session, ctx).await? {
            return Ok(true);
        }
        ctx.viewer = Viewer::of(session);
        let req = session.req_header();
        let config = &ctx.generation.config;
        let behavior = config.behavior_for(ctx.viewer.host(), req.uri.path());
        let index = config
            .behaviors
            .iter()
            .position(|b| std::ptr::eq(b, behavior))
            .expect("behavior comes from the list");
        ctx.behavior = Some(index);
        ctx.origin = Some(ctx.generation.behavior_origin(index));

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

    /// Called before the cache lookup: turns the cache on for requests the behavior's policy lets
    /// it store (`GET`/`HEAD`, without `Authorization` unless the policy allows it, not to an
    /// ALB-style target group).
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
            || matches!(ctx.origin_handle(), Some(OriginHandle::Function(_)))
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

    /// Called when the cache is on, before the lookup: the key is scheme + host + path + what
    /// the behavior's cache policy names.
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

    /// Called on a lookup that found variants: a stored response's `Vary` names the request
    /// headers that select among them.
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

    /// Called with the origin's response header (as origin-response left it): whether it is
    /// stored, and for how long.
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

    /// Called when a stale object was found or the origin failed: stale objects are served while
    /// revalidating (`stale-while-revalidate`, when the object allows it) and when the origin
    /// fails (`stale-if-error`).
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

    /// Called on a cache miss (or for uncached requests), before connecting to the origin:
    /// origin-request runs here, then `files` and `function` origins are answered. On cacheable
    /// behaviors `files` origins and generated responses go through the local-origin server
    /// instead, so the cache stores them. Returns `true` to go on to the origin.
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
        let Some(origin) = ctx.origin else {
            return Error::e_explain(ErrorType::InternalError, "request without an origin");
        };
        match ctx.origin_handle() {
            Some(OriginHandle::Http(_)) => return Ok(true),
            Some(OriginHandle::Files(_)) if session.cache.enabled() => {
                ctx.local = Some(LocalRoute::Files);
                return Ok(true);
            }
            _ => {}
        }
        // Answered here: the request's context is lent to the answer, so the generation is
        // held by a clone of its own.
        let generation = ctx.generation.clone();
        match &generation.origins.get(origin).handle {
            OriginHandle::Files(bucket) => {
                let response = bucket.respond(session.req_header()).await;
                self.triggers
                    .send_local(session, ctx, response, true)
                    .await?;
            }
            OriginHandle::Function(group) => {
                target_group::serve(&self.triggers, self.events.as_deref(), group, session, ctx)
                    .await?;
            }
            OriginHandle::Http(_) => unreachable!("http origins returned above"),
        }
        Ok(false)
    }

    /// Called for each chunk of the request body on its way to the origin: bounds the time a
    /// body may take, and sends a body a hook replaced instead of the original.
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
        } else if let Some(held) = &mut ctx.body_read {
            held.replay(body);
        }
        Ok(())
    }

    /// Called to connect (again after a failed attempt): the local-origin server, a custom
    /// origin a hook chose, or a healthy server of the `http` origin not yet tried.
    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> Result<Box<HttpPeer>> {
        if let Some(held) = &mut ctx.body_read {
            held.restart();
        }
        if ctx.local.is_some() {
            return self.local.peer();
        }
        upstream::peer(session.req_header(), ctx, &self.metrics).await
    }

    /// Called when connecting failed: the server is skipped and the next healthy one tried.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestContext,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let origin = ctx.origin_name();
        self.metrics
            .upstream_errors
            .with_label_values(&[origin, "connect"])
            .inc();
        tracing::warn!(origin, peer = %peer, request_id = %ctx.request_id, "origin connect failed: {e}");
        e.set_retry(true);
        e
    }

    /// Called with the request about to go to the origin: forwarding headers, then where it
    /// goes and how (`upstream.rs`).
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        let facing_added =
            ctx.origin_facing_for.is_some() || origin_view::put_shown_lines(upstream_request, ctx)?;
        forwarding::add_to_origin_request(
            upstream_request,
            &ctx.viewer,
            &ctx.generation.node_headers,
            &ctx.request_id,
            facing_added,
        )?;
        upstream::origin_request_headers(upstream_request, ctx)?;
        ctx.origin_sent = Some(Instant::now());
        Ok(())
    }

    /// Called with the origin's response header: records its latency, refuses a status the
    /// viewer must not get (502) and makes a listed Content-Length one value, then runs
    /// origin-response (before the cache sees it).
    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestContext,
    ) -> Result<()> {
        if let Err(why) = origin_head::check(upstream_response, session.is_upgrade_req()) {
            return Error::e_explain(
                ErrorType::HTTPStatus(502),
                format!("origin \"{}\" {why}", ctx.origin_name()),
            );
        }
        if let Some(sent) = ctx.origin_sent {
            let latency = sent.elapsed();
            ctx.origin_latency = Some(latency);
            if let Some(origin) = ctx.configured_origin() {
                origin
                    .latency(&self.metrics.origin_latency)
                    .observe(latency.as_secs_f64());
            }
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

    /// Called for each chunk of the origin's body: sends a body origin-response set instead.
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

    /// Called for each chunk of the body to the viewer: sends a body viewer-response set
    /// instead.
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

    /// Called with the response header about to go to the viewer (from the origin or the
    /// cache): `Via` and `X-Cache`, then viewer-response, then the request id.
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
        // Named as CloudFront writes them (viewer-response shows each line's `key`).
        upstream_response.insert_header("Via", via)?;
        let x_cache = match session.cache.phase() {
            CachePhase::Hit | CachePhase::Stale | CachePhase::StaleUpdating => X_CACHE_HIT,
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => X_CACHE_REFRESH_HIT,
            _ => X_CACHE_MISS,
        };
        // Static: no copy of the text per response.
        let x_cache = http::HeaderValue::from_static(x_cache);
        upstream_response.insert_header("X-Cache", x_cache)?;
        match self
            .triggers
            .response(EventType::ViewerResponse, session, ctx, upstream_response)
            .await
        {
            Ok(body) => ctx.viewer_body_swap = body.map(BodySwap::new),
            Err(e) => return hook_error(ctx, e),
        }
        upstream_response.insert_header(REQUEST_ID_KEY, &*ctx.request_id)?;
        Ok(())
    }

    /// Called when any phase failed: the status is decided in
    /// [`proxy_failure`](super::failures::proxy_failure).
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestContext,
    ) -> FailToProxy {
        proxy_failure(session, e, ctx, &self.metrics).await
    }

    /// Called last, for every request however it ended: tells the connection's deadlines the
    /// request is over, lets go of a held generated response, then counts and logs the request.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestContext) {
        if let Some(connection) = viewer_connection(session) {
            connection.request_done();
        }
        if ctx.local == Some(LocalRoute::Generated) {
            self.local.release(&ctx.request_id);
        }
        request_log::record(session, e, ctx, &self.metrics, self.realtime.as_deref());
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
