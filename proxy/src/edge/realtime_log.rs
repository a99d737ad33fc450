//! A request's real-time log record: the configured fields, in order, tab-separated, `-` for a
//! value that is absent, as CloudFront writes them (`[realtime-logs] fields`). Tabs and line
//! breaks inside a value (a user agent can carry anything) become spaces, so a record stays one
//! line of the fields it says it has.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use pingora::proxy::Session;

use super::context::RequestContext;
use crate::cache::CacheResult;
use crate::config::{LogField, RealtimeLogs};

/// The record of the request `session` answered with `status`, when the sampling picks it.
pub fn record(
    session: &Session,
    ctx: &RequestContext,
    status: u16,
    result_type: &str,
    settings: &RealtimeLogs,
) -> Option<String> {
    if settings.sampling_rate < 100 && fastrand::u32(0..100) >= settings.sampling_rate {
        return None;
    }
    let req = session.req_header();
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let current = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let path = ctx.viewer_path.as_deref().unwrap_or(current);
    let (stem, query) = path.split_once('?').unwrap_or((path, ""));
    let mut line = String::with_capacity(160);
    for (i, field) in settings.fields.iter().enumerate() {
        if i > 0 {
            line.push('\t');
        }
        let value: Option<String> = match field {
            LogField::Timestamp => Some(format!("{}.{:03}", now.as_secs(), now.subsec_millis())),
            LogField::ClientIp => ctx.viewer.client_ip().map(|ip| ip.to_string()),
            LogField::ClientPort => session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.port().to_string()),
            LogField::Status => Some(status.to_string()),
            LogField::Bytes => Some(session.body_bytes_sent().to_string()),
            LogField::Method => Some(req.method.as_str().to_string()),
            LogField::Protocol => Some(ctx.viewer.scheme.to_string()),
            LogField::Host => Some(ctx.viewer.host().to_string()),
            LogField::UriStem => Some(stem.to_string()),
            LogField::UriQuery => (!query.is_empty()).then(|| query.to_string()),
            LogField::EdgeLocation => Some(ctx.generation.config.node.name.clone()),
            LogField::RequestId => Some(ctx.request_id.to_string()),
            LogField::HostHeader => header("host").map(str::to_string),
            LogField::TimeTaken => Some(format!("{:.3}", ctx.started.elapsed().as_secs_f64())),
            LogField::ProtocolVersion => Some(format!("{:?}", req.version)),
            LogField::UserAgent => header("user-agent").map(str::to_string),
            LogField::Referer => header("referer").map(str::to_string),
            LogField::ResultType => Some(result_type.to_string()),
            LogField::ContentType => session
                .response_written()
                .and_then(|r| r.headers.get("content-type"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            LogField::ForwardedFor => header("x-forwarded-for").map(str::to_string),
            LogField::BehaviorPathPattern => ctx
                .generation
                .behavior(ctx.behavior)
                .map(|b| b.name.clone()),
        };
        push_field(&mut line, value.as_deref());
    }
    let _ = writeln!(line);
    Some(line)
}

/// Appends one field: `-` when absent or empty, tabs and line breaks made spaces.
fn push_field(line: &mut String, value: Option<&str>) {
    match value.filter(|v| !v.is_empty()) {
        Some(v) => line.extend(v.chars().map(|c| match c {
            '\t' | '\r' | '\n' => ' ',
            c => c,
        })),
        None => line.push('-'),
    }
}

/// CloudFront's `x-edge-result-type` for a response with `status` and cache result `cache`.
pub fn result_type(status: u16, cache: Option<CacheResult>) -> &'static str {
    match (status, cache) {
        (400.., _) | (0, _) => "Error",
        (_, Some(CacheResult::Hit | CacheResult::Stale)) => "Hit",
        (_, Some(CacheResult::RefreshHit)) => "RefreshHit",
        _ => "Miss",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_never_breaks_the_record() {
        for (value, written) in [
            (None, "-"),
            (Some(""), "-"),
            (Some("Mozilla/5.0"), "Mozilla/5.0"),
            (Some("a\tb"), "a b"),
            (Some("a\r\nb"), "a  b"),
            (Some("\t\t"), "  "),
            (Some("é\n"), "é "),
        ] {
            let mut line = String::new();
            push_field(&mut line, value);
            assert_eq!(line, written, "{value:?}");
        }
    }

    #[test]
    fn result_types_are_cloudfronts() {
        assert_eq!(result_type(200, Some(CacheResult::Hit)), "Hit");
        assert_eq!(result_type(200, Some(CacheResult::Stale)), "Hit");
        assert_eq!(
            result_type(304, Some(CacheResult::RefreshHit)),
            "RefreshHit"
        );
        assert_eq!(result_type(200, Some(CacheResult::Miss)), "Miss");
        assert_eq!(result_type(200, Some(CacheResult::Uncacheable)), "Miss");
        assert_eq!(result_type(200, None), "Miss");
        assert_eq!(result_type(503, Some(CacheResult::Hit)), "Error");
        assert_eq!(result_type(0, None), "Error");
    }
}
