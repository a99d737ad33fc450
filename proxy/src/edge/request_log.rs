//! What is recorded of every request when it ends: the request and cache counters, and one
//! JSON access-log line (when `node.access-log` is on).

use pingora::proxy::Session;
use pingora::Error;

use super::context::{LocalRoute, RequestContext};
use super::realtime_log;
use crate::cache::CacheResult;
use crate::observe::{AccessLogLine, Metrics};
use crate::realtime_logs::LogSink;

/// Counts the request (by behavior and status, and its cache result), offers its real-time log
/// record to `realtime` (when configured and sampled) and writes its access-log line.
pub fn record(
    session: &Session,
    e: Option<&Error>,
    ctx: &mut RequestContext,
    metrics: &Metrics,
    realtime: Option<&LogSink>,
) {
    let status = session.response_written().map(|r| r.status);
    let behavior = ctx.generation.behavior(ctx.behavior);
    let behavior_name = behavior.map(|b| b.name.as_str()).unwrap_or("");
    let meters = ctx.generation.request_meters(ctx.behavior);
    meters.count_answered(&metrics.requests, behavior_name, status);
    let status = status.map_or(0, |s| s.as_u16());
    let cache_result = CacheResult::of(&session.cache.phase());
    if let Some(result) = cache_result {
        meters.count_cache_result(&metrics.cache_requests, behavior_name, result);
    }
    if session.cache.lock_duration().is_some() {
        metrics.cache_lock_waits.inc();
    }
    if let (Some(sink), Some(settings)) = (realtime, &ctx.generation.config.realtime_logs) {
        let result_type = realtime_log::result_type(status, cache_result);
        if let Some(line) = realtime_log::record(session, ctx, status, result_type, settings) {
            sink.offer(line);
        }
    }
    if !ctx.generation.config.node.access_log {
        return;
    }
    let req = session.req_header();
    let current = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let path = ctx.viewer_path.as_deref().unwrap_or(current);
    // What the origin was asked for: the request as sent (a custom origin's path in front),
    // when one was asked; a generated response asks none.
    let origin_path: Option<std::borrow::Cow<str>> =
        match (ctx.origin_sent, ctx.local, &ctx.custom_origin) {
            (None, ..) | (_, Some(LocalRoute::Generated), _) => None,
            (Some(_), _, Some(custom)) if !custom.path.is_empty() => {
                Some(format!("{}{current}", custom.path).into())
            }
            _ => Some(current.into()),
        };
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
        origin: ctx.origin_name(),
        origin_path: origin_path.as_deref(),
        error,
    }
    .emit(&metrics.access_log_dropped);
}
