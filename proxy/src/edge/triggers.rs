//! CloudFront's four trigger points as the pipeline runs them: building each trigger's event
//! from the session, running the associated function, and acting on its outcome. This module
//! knows the session and the request's context, never the `ProxyHttp` implementation: the
//! phases in `proxy.rs` call it.

use base64::Engine as _;
use bytes::Bytes;
use futures_util::FutureExt as _;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;

use std::future::Future;
use std::sync::Arc;

use super::context::{BodySwap, LocalRoute, RequestContext};
use super::event_wire::{self, LentHeader};
use super::failures::send_hook_error;
use super::forwarding::OriginLine;
use super::held_body::HeldBody;
use super::local_origin::LocalOrigins;
use super::origin_view;
use super::{request_body, respond};
use crate::config::Isolation;
use crate::hooks::{
    CallMeters, Decision, HookError, HookFunction, HookRegistry, Lent, LentHeaders, Report,
    Trigger, Validated,
};
use crate::observe::Metrics;
use crate::origins::{LocalBody, LocalResponse};
use edge_event::limits;
use edge_event::{
    BodyAction, BodyEncoding, CfBody, CfConfig, CfEvent, CfOrigin, CfRequest, CfResponse,
    EventType, HookOutcome,
};

/// What the pipeline does after a request trigger ran.
pub enum RequestStep {
    /// Go on with the (possibly changed) request.
    Continue,
    /// A response has been sent; stop.
    Done,
}

/// Runs triggers for the pipeline: what a hook call needs beyond the request (metrics, and the
/// local-origin server that serves generated responses on cached behaviors).
pub struct Triggers {
    pub(super) metrics: Arc<Metrics>,
    local: Arc<LocalOrigins>,
}

impl Triggers {
    /// Triggers reporting to `metrics`, holding generated responses in `local`.
    pub fn new(metrics: Arc<Metrics>, local: Arc<LocalOrigins>) -> Self {
        Triggers { metrics, local }
    }

    /// Runs `function` (the one associated with `event`'s trigger), with what is `lent` in place
    /// of the event's own fields, metrics, and the `REPORT` and error log lines naming
    /// `request_id` (the event's, lent by the caller: the event itself moves into the call). Not
    /// an `async fn`: the event and what is lent move into the invocation's future here and
    /// the accounting after it is a plain function mapped over it, so the returned future is the
    /// invocation's and a few references (an `async` body would keep its arguments, and the
    /// invocation once more while awaiting it: 1 KB more per call, copied with the future).
    fn call_hook<'a>(
        &'a self,
        hooks: &'a HookRegistry,
        function: &str,
        event: Box<CfEvent>,
        lent: Lent,
        request_id: &'a str,
    ) -> impl Future<Output = Result<Decision, HookError>> + Send + 'a {
        let et = event.config.event_type;
        let function = hooks
            .get(function)
            .expect("config validated function names");
        function
            .invoke_lending(event, lent, request_id)
            .map(move |(result, report)| self.account(function, et, request_id, result, report))
    }

    /// Meters a finished call and logs its `REPORT` line (and its failure); returns its result.
    fn account(
        &self,
        function: &HookFunction,
        et: EventType,
        request_id: &str,
        result: Result<Decision, HookError>,
        report: Option<Report>,
    ) -> Result<Decision, HookError> {
        let name = function.name();
        let meters = function.meters(|| self.metrics.function(name) as Arc<dyn CallMeters>);
        meters.invoked(et);
        if let Some(r) = &report {
            meters.observe_hook(r);
            // Cold starts and failures are logged at info; every warm REPORT line of a call that
            // went well only at debug (`RUST_LOG=info,edge_proxy::report=debug`): at edge request
            // rates a log line per invocation costs more than the invocation, and so does
            // formatting one nobody reads. edge_hook_duration_seconds has them all. With
            // per-request isolation every call may start an environment: its cold starts are
            // as routine as another function's warm calls.
            let news = r.init.is_some() && function.config().isolation != Isolation::PerRequest;
            if news || result.is_err() {
                let line = match &result {
                    Err(e) => format!(
                        "{} Status: error Error Type: {} Error: {e}",
                        r.line(Some(request_id)),
                        e.kind()
                    ),
                    Ok(_) => r.line(Some(request_id)),
                };
                tracing::info!(
                    target: "edge_proxy::report",
                    function = name,
                    event_type = et.as_str(),
                    "{line}"
                );
            } else {
                tracing::debug!(
                    target: "edge_proxy::report",
                    function = name,
                    event_type = et.as_str(),
                    "{}",
                    r.line(Some(request_id))
                );
            }
        }
        if let Err(e) = &result {
            self.metrics
                .hook_errors
                .with_label_values(&[name, e.kind()])
                .inc();
            tracing::warn!(
                function = name,
                event_type = et.as_str(),
                request_id = %request_id,
                status = e.status(),
                "hook failed: {e}"
            );
        }
        result
    }

    fn cf_config(&self, et: EventType, ctx: &RequestContext) -> CfConfig {
        CfConfig {
            distribution_domain_name: ctx.generation.event_names.domain_name.clone(),
            distribution_id: ctx.generation.event_names.id.clone(),
            event_type: et,
            request_id: ctx.request_id.clone(),
        }
    }

    /// The event of trigger `et` (without the response of a response event), reading the body
    /// first when the association asks; its request's headers and request line are left to be
    /// lent (the event's fields are empty), from where [`ShownRequest`] says, and so is the
    /// origin an origin event shows (returned beside it). Boxed where it is built: it is a few
    /// hundred bytes, and the call moves it on through several futures.
    async fn cf_event(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        et: EventType,
        include_body: bool,
    ) -> pingora::Result<(Box<CfEvent>, ShownRequest, Option<Arc<CfOrigin>>)> {
        let body = if include_body && has_writable_method(session) {
            let cap = limits::exposed_body_cap(et);
            let deadline = request_body::deadline(ctx.started, &ctx.generation.config.limits);
            let held = ctx.body_read.get_or_insert_with(HeldBody::default);
            held.fill(session, deadline, cap).await?;
            let (shown, truncated) = held.shown(cap);
            Some(CfBody {
                input_truncated: truncated,
                action: BodyAction::ReadOnly,
                encoding: BodyEncoding::Base64,
                data: base64::engine::general_purpose::STANDARD.encode(shown),
            })
        } else {
            None
        };
        // Viewer events show the viewer's request, origin events the one sent to the origin:
        // with `X-Forwarded-For`, `Via` and the origin's `Host`, and `request.origin`.
        let (shown, origin) = match et {
            EventType::ViewerRequest => (ShownRequest::Session, None),
            EventType::ViewerResponse if ctx.viewer_request.is_some() => {
                (ShownRequest::Viewer, None)
            }
            EventType::ViewerResponse => (ShownRequest::Session, None),
            EventType::OriginRequest | EventType::OriginResponse => {
                let shown = if ctx.origin_facing_for.is_some() {
                    ShownRequest::Session
                } else {
                    ShownRequest::AsSent(origin_view::shown_lines(session.req_header(), ctx)?)
                };
                (shown, Some(origin_view::presented(ctx)))
            }
        };
        // The request line and the viewer's address are lent with the request, read only if
        // the hook asks: the event's strings stay empty.
        let event = Box::new(CfEvent {
            config: self.cf_config(et, ctx),
            request: CfRequest {
                client_ip: String::new(),
                method: String::new(),
                uri: String::new(),
                querystring: String::new(),
                headers: Default::default(),
                body,
                origin: None,
            },
            response: None,
        });
        Ok((event, shown, origin))
    }

    /// Runs a request trigger (viewer-request or origin-request) if one is associated.
    /// Generated responses are sent here: a viewer-request one as is, an origin-request one
    /// through the viewer-response trigger.
    pub async fn request(
        &self,
        et: EventType,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> pingora::Result<RequestStep> {
        if !hooked(ctx, et) {
            return Ok(RequestStep::Continue);
        }
        // The request's context is lent to the hook call: the generation is held by a clone.
        let generation = ctx.generation.clone();
        // Boxed: the hook call's state is kilobytes, and inline it would make every request's
        // phase futures that large (Pingora moves them into a box per request), hooks or not.
        // The paths that answer the viewer here (a failed hook, a generated response) are boxed
        // in turn where they run: inline they would size this box, built on every hook call.
        Box::pin(async move {
            let behavior = generation.behavior(ctx.behavior).expect("routed");
            let assoc = behavior.hooks.get(et).expect("checked above");
            // CloudFront's origin-request event shows the request as the origin gets it: the
            // origin's headers are shown over the session's request, not put on it, unless the
            // function changes it (below).
            let (event, shown, origin) =
                self.cf_event(session, ctx, et, assoc.include_body).await?;
            let lent = LentRequest::lend(shown, session, ctx)?;
            let lent_parts = Lent {
                request: Some(lent.share()),
                response: None,
                origin,
                client_ip: ctx.viewer.client_ip(),
            };
            let called = self
                .call_hook(
                    &generation.hooks,
                    &assoc.function,
                    event,
                    lent_parts,
                    &ctx.request_id,
                )
                .await;
            lent.put_back(session, ctx);
            let mut validated = match called {
                Err(e) => {
                    Box::pin(send_hook_error(session, ctx, &e)).await?;
                    return Ok(RequestStep::Done);
                }
                Ok(Decision::Unchanged) => return Ok(RequestStep::Continue),
                Ok(Decision::Changed(validated)) => validated,
            };
            if et == EventType::OriginRequest {
                // The function's changes are made over the origin's headers it saw: they go on
                // the session's request now, the viewer's request kept for viewer-response.
                if hooked(ctx, EventType::ViewerResponse) {
                    ctx.viewer_request = Some(Box::new(session.req_header().clone()));
                }
                origin_view::add_origin_headers(session.req_header_mut(), ctx)?;
                ctx.origin_facing_for = ctx.origin;
            }
            let Validated {
                outcome,
                header_edits,
                line_kept,
            } = &mut *validated;
            match outcome {
                HookOutcome::Response(generated) => {
                    let generated = &*generated;
                    let body = event_wire::response_body(generated).unwrap_or_default();
                    let header = match event_wire::generated_header(generated, body.len()) {
                        Ok(header) => header,
                        Err(e) => {
                            let e = invalid(&assoc.function, et, e);
                            Box::pin(send_hook_error(session, ctx, &e)).await?;
                            return Ok(RequestStep::Done);
                        }
                    };
                    let response = LocalResponse {
                        header,
                        body: if body.is_empty() {
                            LocalBody::Empty
                        } else {
                            LocalBody::Bytes(body)
                        },
                    };
                    if et == EventType::OriginRequest && session.cache.enabled() {
                        // Cached like an origin's response: fetched from the local-origin server.
                        self.local.hold(&ctx.request_id, response);
                        ctx.local = Some(LocalRoute::Generated);
                        return Ok(RequestStep::Continue);
                    }
                    if et == EventType::ViewerRequest {
                        // CloudFront runs no other trigger for a viewer-request generated response.
                        Box::pin(respond::local(session, &ctx.request_id, response)).await?;
                    } else {
                        Box::pin(self.send_local(session, ctx, response, false)).await?;
                    }
                    Ok(RequestStep::Done)
                }
                HookOutcome::Request(changed) => {
                    // Set by the hook (origin-request only): followed unless it is the one shown.
                    if let Some(returned) = &changed.origin {
                        let shown = origin_view::presented(ctx);
                        if let Err(reason) = origin_view::follow(ctx, returned.clone(), &shown) {
                            let e = HookError::Invalid {
                                function: assoc.function.clone(),
                                trigger: Trigger::Edge(et),
                                reason,
                            };
                            Box::pin(send_hook_error(session, ctx, &e)).await?;
                            return Ok(RequestStep::Done);
                        }
                    }
                    if let Some(body) = changed
                        .body
                        .as_ref()
                        .filter(|b| b.action == BodyAction::Replace)
                    {
                        ctx.request_body_swap = Some(BodySwap::new(match body.encoding {
                            BodyEncoding::Text => Bytes::from(body.data.clone()),
                            BodyEncoding::Base64 => Bytes::from(
                                base64::engine::general_purpose::STANDARD
                                    .decode(&body.data)
                                    .unwrap_or_default(),
                            ),
                        }));
                    }
                    let req = session.req_header_mut();
                    let rewritten = !*line_kept
                        && (req.uri.path() != changed.uri
                            || req.uri.query().unwrap_or("") != changed.querystring);
                    if rewritten && ctx.viewer_path.is_none() {
                        // The access log keeps the viewer's path beside the origin's.
                        ctx.viewer_path = req.uri.path_and_query().map(|p| p.as_str().into());
                    }
                    // An unchanged uri is already on the wire: parsing it again costs more than
                    // a no-op hook's call.
                    let applied = if rewritten {
                        event_wire::apply_uri(req, &changed.uri, &changed.querystring)
                    } else {
                        Ok(())
                    }
                    .and_then(|()| {
                        let headers = std::mem::take(&mut changed.headers);
                        event_wire::apply_headers(req, headers, header_edits)
                    });
                    if let Err(e) = applied {
                        let e = invalid(&assoc.function, et, e);
                        Box::pin(send_hook_error(session, ctx, &e)).await?;
                        return Ok(RequestStep::Done);
                    }
                    Ok(RequestStep::Continue)
                }
            }
        })
        .await
    }

    /// Runs a response trigger on `header` (origin-response or viewer-response) if one is
    /// associated, applying its changes. Returns a replacement body when the hook set one.
    pub async fn response(
        &self,
        et: EventType,
        session: &mut Session,
        ctx: &mut RequestContext,
        header: &mut ResponseHeader,
    ) -> Result<Option<Bytes>, HookError> {
        // CloudFront skips viewer-response when the origin answered with an error. An interim or
        // protocol-switching (1xx) response is not a response a hook sees.
        if !hooked(ctx, et)
            || (et == EventType::ViewerResponse && header.status.as_u16() >= 400)
            || header.status.is_informational()
        {
            return Ok(None);
        }
        let generation = ctx.generation.clone();
        // Boxed for the reason `request` gives.
        Box::pin(async move {
            let behavior = generation.behavior(ctx.behavior).expect("routed");
            let assoc = behavior.hooks.get(et).expect("checked above");
            let invalid = |e| invalid(&assoc.function, et, e);
            let (mut event, shown, origin) =
                self.cf_event(session, ctx, et, false)
                    .await
                    .map_err(|e| HookError::Trap {
                        function: assoc.function.clone(),
                        trigger: Trigger::Edge(et),
                        reason: e.to_string(),
                    })?;
            event.response = Some(CfResponse {
                status: header.status.as_u16(),
                status_description: header
                    .get_reason_phrase()
                    .or(header.status.canonical_reason())
                    .unwrap_or("")
                    .to_string(),
                headers: Default::default(),
                body: None,
                body_encoding: BodyEncoding::Text,
            });
            // Both headers are lent to the call and taken back after it, however it ended.
            let lent_request = LentRequest::lend(shown, session, ctx).map_err(invalid)?;
            let lent_response = match LentHeader::lend_from(header, || {
                ResponseHeader::build_no_case(http::StatusCode::OK, Some(0))
            }) {
                Ok(lent) => lent,
                Err(e) => {
                    lent_request.put_back(session, ctx);
                    return Err(invalid(e));
                }
            };
            let lent_parts = Lent {
                request: Some(lent_request.share()),
                response: Some(lent_response.clone()),
                origin,
                client_ip: ctx.viewer.client_ip(),
            };
            let called = self
                .call_hook(
                    &generation.hooks,
                    &assoc.function,
                    event,
                    lent_parts,
                    &ctx.request_id,
                )
                .await;
            lent_request.put_back(session, ctx);
            lent_response.put_back_to(header);
            let Decision::Changed(validated) = called? else {
                return Ok(None);
            };
            let Validated {
                outcome,
                header_edits,
                ..
            } = *validated;
            let HookOutcome::Response(mut changed) = outcome else {
                unreachable!("validation only lets a response through for response triggers")
            };
            if changed.status != header.status.as_u16() {
                header.set_status(changed.status).map_err(invalid)?;
            }
            if !changed.status_description.is_empty() {
                header
                    .set_reason_phrase(Some(&changed.status_description))
                    .map_err(invalid)?;
            }
            let headers = std::mem::take(&mut changed.headers);
            event_wire::apply_headers(header, headers, &header_edits).map_err(invalid)?;
            let body = event_wire::response_body(&changed);
            if let Some(b) = &body {
                header.remove_header("transfer-encoding");
                header.remove_header("content-encoding");
                header
                    .insert_header("Content-Length", b.len().to_string())
                    .map_err(invalid)?;
            }
            Ok(body)
        })
        .await
    }

    /// Sends a response the proxy produced itself (files origin, origin-request generated)
    /// through origin-response (when `from_origin`) and viewer-response.
    pub async fn send_local(
        &self,
        session: &mut Session,
        ctx: &mut RequestContext,
        mut response: LocalResponse,
        from_origin: bool,
    ) -> pingora::Result<()> {
        let mut triggers = vec![EventType::ViewerResponse];
        if from_origin {
            triggers.insert(0, EventType::OriginResponse);
        }
        for et in triggers {
            match self.response(et, session, ctx, &mut response.header).await {
                Ok(Some(body)) => response.body = LocalBody::Bytes(body),
                Ok(None) => {}
                Err(e) => return send_hook_error(session, ctx, &e).await,
            }
        }
        // Not cacheable here (no cache policy): a miss, as CloudFront reports every fetch.
        response.header.insert_header(
            "x-cache",
            http::HeaderValue::from_static(respond::X_CACHE_MISS),
        )?;
        respond::local(session, &ctx.request_id, response).await
    }
}

/// Where the request an event shows lives, so that its header can be lent to the call.
enum ShownRequest {
    /// The session's request.
    Session,
    /// The viewer's request as it arrived, kept for viewer-response (`ctx.viewer_request`).
    Viewer,
    /// The session's request with the origin's headers over it (`origin_view::AsSent`).
    AsSent(Arc<[OriginLine]>),
}

/// A request header lent to one call, and where it goes back after it.
enum LentRequest {
    Session(Arc<LentHeader<RequestHeader>>),
    Viewer(Arc<LentHeader<Box<RequestHeader>>>),
    /// The session's request, and the view over it the call reads.
    AsSent(Arc<LentHeader<RequestHeader>>, Arc<origin_view::AsSent>),
}

impl LentRequest {
    /// Lends the request `shown` names. The session holds a bare stand-in until
    /// [`LentRequest::put_back`]: nothing reads it while the call runs.
    fn lend(
        shown: ShownRequest,
        session: &mut Session,
        ctx: &mut RequestContext,
    ) -> pingora::Result<Self> {
        let lend_session = |session: &mut Session| {
            LentHeader::lend_from(session.req_header_mut(), || {
                RequestHeader::build_no_case(http::Method::GET, b"/", Some(0))
            })
        };
        Ok(match shown {
            ShownRequest::Session => LentRequest::Session(lend_session(session)?),
            ShownRequest::AsSent(lines) => {
                let lent = lend_session(session)?;
                let view = origin_view::AsSent::new(lent.clone(), lines);
                LentRequest::AsSent(lent, Arc::new(view))
            }
            ShownRequest::Viewer => match ctx.viewer_request.take() {
                Some(viewer) => LentRequest::Viewer(LentHeader::new(viewer)),
                None => return Self::lend(ShownRequest::Session, session, ctx),
            },
        })
    }

    /// The slot the call reads.
    fn share(&self) -> Arc<dyn LentHeaders> {
        match self {
            LentRequest::Session(lent) => lent.clone(),
            LentRequest::Viewer(lent) => lent.clone(),
            LentRequest::AsSent(_, view) => view.clone(),
        }
    }

    /// Puts the header back where it was lent from.
    fn put_back(self, session: &mut Session, ctx: &mut RequestContext) {
        match self {
            LentRequest::Session(lent) => lent.put_back_to(session.req_header_mut()),
            LentRequest::AsSent(lent, view) => {
                // The view's share of the slot first: a slot no one else holds is kept, with
                // its stand-in, for the thread's next lend.
                drop(view);
                lent.put_back_to(session.req_header_mut())
            }
            LentRequest::Viewer(lent) => ctx.viewer_request = lent.take_back(),
        }
    }
}

/// A result validation passed but the wire refused: invalid all the same (502).
fn invalid(function: &str, et: EventType, e: pingora::BError) -> HookError {
    HookError::Invalid {
        function: function.to_string(),
        trigger: Trigger::Edge(et),
        reason: e.to_string(),
    }
}

/// CloudFront exposes bodies for writable methods only.
fn has_writable_method(session: &Session) -> bool {
    !matches!(
        session.req_header().method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE
    )
}

/// Whether the request's behavior associates a function with `et`.
fn hooked(ctx: &RequestContext, et: EventType) -> bool {
    ctx.generation
        .behavior(ctx.behavior)
        .is_some_and(|b| b.hooks.get(et).is_some())
}
