//! Lambda@Edge limits and header rules, each from the AWS page it comes from.

use crate::headers::HeaderLine;
use crate::model::{CfEvent, EventType};

/// Generated response (headers + body) cap: 40 KB for viewer events, 1 MB for origin events.
/// Source: CloudFront Developer Guide, "Generating HTTP responses in request triggers" and
/// "Quotas on Lambda@Edge".
pub fn generated_response_cap(event: EventType) -> usize {
    if event.is_viewer() {
        40 * 1024
    } else {
        1024 * 1024
    }
}

/// Include-body exposure: bodies are truncated at 40 KB (viewer-request) / 1 MB (origin-request)
/// with `inputTruncated: true`, read as decimal units like the replaced-body caps below (a 1 MiB
/// upload is shown truncated at origin-request). Source: "Restrictions on Lambda@Edge".
pub fn exposed_body_cap(event: EventType) -> usize {
    if event.is_viewer() {
        40_000
    } else {
        1_000_000
    }
}

/// Replaced request body caps: text 40 KB / 1 MB, base64 53.2 KB / 1.33 MB; larger is a
/// validation error (502). Source: "Restrictions on Lambda@Edge" (current text).
pub fn replaced_body_cap(event: EventType, base64: bool) -> usize {
    match (event.is_viewer(), base64) {
        (true, false) => 40 * 1024,
        (true, true) => 53_200,
        (false, false) => 1024 * 1024,
        (false, true) => 1_330_000,
    }
}

/// Default timeout: 5 s for viewer triggers, 30 s for origin triggers. Source: CloudFront quotas
/// (2023 text; the current page lists 30 s generally, viewer defaults kept at 5 s).
pub fn default_timeout_ms(event: EventType) -> u64 {
    if event.is_viewer() {
        5_000
    } else {
        30_000
    }
}

/// Default function memory, MB (Lambda@Edge viewer functions are fixed at 128 MB).
pub const DEFAULT_MEMORY_MB: u64 = 128;

/// Whether `name` (lowercase) is a header functions never see and may not add. Source:
/// "Restrictions on all edge functions", disallowed headers; `X-Amz-Cf-*` and `X-Edge-*` are
/// prefixes. Called for every header line a hook reads or writes: a `match` on the names
/// compiles to a switch on the length and a comparison or two, where a scan of the list cost
/// ~250 instructions for every `x-` name.
pub fn is_disallowed(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "expect"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "trailer"
            | "upgrade"
            | "x-accel-buffering"
            | "x-accel-charset"
            | "x-accel-limit-rate"
            | "x-accel-redirect"
            | "x-amzn-auth"
            | "x-amzn-cf-billing"
            | "x-amzn-cf-id"
            | "x-amzn-cf-xff"
            | "x-amzn-errortype"
            | "x-amzn-fle-profile"
            | "x-amzn-header-count"
            | "x-amzn-header-order"
            | "x-amzn-lambda-integration-tag"
            | "x-amzn-requestid"
            | "x-cache"
            | "x-forwarded-proto"
            | "x-real-ip"
    ) || name.starts_with("x-amz-cf-")
        || name.starts_with("x-edge-")
}

/// Removes the headers a function may not see (CloudFront does not expose disallowed headers)
/// from an event read from JSON; events the proxy builds from the wire never carry them.
pub fn hide_disallowed(event: &mut CfEvent) {
    let visible = |l: &HeaderLine| !is_disallowed(&l.name);
    event.request.headers.retain(visible);
    if let Some(r) = &mut event.response {
        r.headers.retain(visible);
    }
}

/// Headers a function may read but not add, change or delete, per trigger. Source: "Restrictions
/// on all edge functions", read-only headers (current text, Lambda@Edge columns).
pub fn read_only(event: EventType) -> &'static [&'static str] {
    match event {
        EventType::ViewerRequest => &[
            "cdn-loop",
            "content-length",
            "host",
            "transfer-encoding",
            "via",
        ],
        EventType::OriginRequest => &[
            "accept-encoding",
            "cdn-loop",
            "content-length",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "transfer-encoding",
            "via",
        ],
        EventType::OriginResponse => &["transfer-encoding", "via"],
        EventType::ViewerResponse => &[
            "warning",
            "via",
            "content-length",
            "content-encoding",
            "transfer-encoding",
        ],
    }
}

/// Longest uri + query string CloudFront accepts (characters). Source: CloudFront quotas.
pub const MAX_URL_CHARS: usize = 8192;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disallowed_prefixes_and_names() {
        assert!(is_disallowed("x-amz-cf-pop"));
        assert!(is_disallowed("x-edge-request-id"));
        assert!(is_disallowed("connection"));
        assert!(!is_disallowed("x-amzn-trace-id"));
        assert!(!is_disallowed("host"));
        // CloudFront's list, names and prefixes.
        for name in [
            "connection",
            "expect",
            "keep-alive",
            "proxy-authenticate",
            "proxy-authorization",
            "proxy-connection",
            "trailer",
            "upgrade",
            "x-accel-buffering",
            "x-accel-charset",
            "x-accel-limit-rate",
            "x-accel-redirect",
            "x-amz-cf-anything",
            "x-amzn-auth",
            "x-amzn-cf-billing",
            "x-amzn-cf-id",
            "x-amzn-cf-xff",
            "x-amzn-errortype",
            "x-amzn-fle-profile",
            "x-amzn-header-count",
            "x-amzn-header-order",
            "x-amzn-lambda-integration-tag",
            "x-amzn-requestid",
            "x-cache",
            "x-edge-anything",
            "x-forwarded-proto",
            "x-real-ip",
        ] {
            assert!(is_disallowed(name), "{name}");
        }
        // Neither a longer or shorter name, nor a prefix without its dash.
        for name in [
            "x-cache-status",
            "x-cach",
            "x-edge",
            "x-amz-cf",
            "upgrade-insecure-requests",
        ] {
            assert!(!is_disallowed(name), "{name}");
        }
        assert!(!is_disallowed("content-type"));
        assert!(!is_disallowed(""));
    }

    #[test]
    fn events_read_from_json_lose_their_disallowed_headers() {
        let mut event =
            CfEvent::from_aws_json(include_str!("../../tests/vectors/cf-viewer-response.json"))
                .unwrap();
        event.request.headers.append("connection", "", "close");
        let response = event.response.as_mut().unwrap();
        response.headers.append("x-amz-cf-pop", "", "FRA2");
        response.headers.append("x-custom", "", "kept");
        hide_disallowed(&mut event);
        assert!(!event.request.headers.contains("connection"));
        assert!(event.request.headers.contains("host"));
        let response = event.response.unwrap();
        assert!(!response.headers.contains("x-amz-cf-pop"));
        assert_eq!(response.headers.first("x-custom"), Some("kept"));
    }
}
