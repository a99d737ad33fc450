//! `[limits]`: the viewer side's sizes and deadlines, each within a range.

use std::time::Duration;

use toml::Spanned;

use super::error::IssueSink;
use super::model::Limits;
use super::raw::RawLimits;
use super::values::in_range;

/// The limits, defaults for what is not set.
pub(super) fn limits(raw: Option<&RawLimits>, sink: &mut IssueSink) -> Limits {
    let mut limits = Limits::default();
    if let Some(l) = raw {
        if let Some(v) = &l.max_request_header_bytes {
            if let Some(n) = in_range(
                v,
                1024,
                1024 * 1024,
                "limits.max-request-header-bytes",
                sink,
            ) {
                limits.max_request_header_bytes = n as usize;
            }
        }
        let bytes = |v: &Option<Spanned<i64>>, key: &str, sink: &mut IssueSink| {
            v.as_ref()
                .and_then(|v| in_range(v, 256, 1024 * 1024, &format!("limits.{key}"), sink))
                .map(|n| n as usize)
        };
        if let Some(n) = bytes(&l.max_request_line_bytes, "max-request-line-bytes", sink) {
            limits.max_request_line_bytes = n;
        }
        if let Some(n) = bytes(
            &l.max_request_header_line_bytes,
            "max-request-header-line-bytes",
            sink,
        ) {
            limits.max_request_header_line_bytes = n;
        }
        let millis = |v: &Option<Spanned<i64>>, key: &str, max: i64, sink: &mut IssueSink| {
            v.as_ref()
                .and_then(|v| in_range(v, 1, max, &format!("limits.{key}"), sink))
                .map(|n| Duration::from_millis(n as u64))
        };
        if let Some(d) = millis(
            &l.request_header_timeout_ms,
            "request-header-timeout-ms",
            600_000,
            sink,
        ) {
            limits.request_header_timeout = d;
        }
        if let Some(d) = millis(&l.idle_timeout_ms, "idle-timeout-ms", 3_600_000, sink) {
            limits.idle_timeout = d;
        }
        if let Some(d) = millis(
            &l.request_body_timeout_ms,
            "request-body-timeout-ms",
            3_600_000,
            sink,
        ) {
            limits.request_body_timeout = d;
        }
        if let Some(d) = millis(
            &l.request_body_idle_timeout_ms,
            "request-body-idle-timeout-ms",
            3_600_000,
            sink,
        ) {
            limits.request_body_idle_timeout = d;
        }
        if let Some(v) = &l.max_connections {
            if let Some(n) = in_range(v, 1, 10_000_000, "limits.max-connections", sink) {
                limits.max_connections = n as usize;
            }
        }
        if let Some(v) = &l.h2_max_concurrent_streams {
            if let Some(n) = in_range(v, 1, 10_000, "limits.h2-max-concurrent-streams", sink) {
                limits.h2_max_concurrent_streams = n as u32;
            }
        }
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;
    use super::*;

    #[test]
    fn unset_limits_keep_their_defaults_and_set_ones_apply() {
        let defaults = parse_with("").expect("valid").limits;
        assert_eq!(defaults.max_connections, Limits::default().max_connections);
        let set = parse_with("[limits]\nidle-timeout-ms = 2500\nmax-connections = 7\n")
            .expect("valid")
            .limits;
        assert_eq!(set.idle_timeout, Duration::from_millis(2500));
        assert_eq!(set.max_connections, 7);
        assert_eq!(set.request_header_timeout, defaults.request_header_timeout);
    }
}
