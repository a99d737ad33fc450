//! The fuzz targets' bodies: each parser that meets outside bytes, with the property that must
//! hold for whatever it accepts. `fuzz/` runs them under libFuzzer (`make fuzz`); the test suite
//! replays every corpus file and seed through the same functions, so a crash once found stays a
//! regression test. A property that does not hold panics.

use pingora::http::{RequestHeader, ResponseHeader};
use serde_json::Value;

use crate::config::{CachePolicy, KeyItems};
use crate::edge::event_wire;
use crate::lambda::{self, Payload, TargetGroupSettings};
use edge_event::{limits, CfEvent, HeaderEdits, HookOutcome};

/// The Lambda@Edge event reader: what it accepts writes back as AWS JSON, reads again, and
/// writes the same JSON (the JSON form is canonical: header maps keyed by lowercase name, so
/// the order of different names may change once, the lines of one name never).
pub fn cf_event_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = CfEvent::from_aws_json(text) else {
        return;
    };
    let written = event.to_aws_json();
    let again =
        CfEvent::from_aws_json(&written.to_string()).expect("an event written back reads again");
    assert_eq!(
        again.to_aws_json(),
        written,
        "the event changed on a round trip"
    );
    for name in event.request.headers.iter().map(|l| l.name.as_str()) {
        assert_eq!(
            again.request.headers.values(name),
            event.request.headers.values(name),
            "the lines of {name:?} changed order"
        );
    }
}

/// The ALB and API Gateway result readers: a result they accept always makes a response
/// header (status, reason, every header line), in every payload and header mode.
pub fn function_result(data: &[u8]) {
    for payload in [Payload::Alb, Payload::ApiGatewayV1, Payload::ApiGatewayV2] {
        for multi_value_headers in [false, true] {
            let settings = TargetGroupSettings {
                target_group_arn: String::new(),
                multi_value_headers,
                payload,
            };
            let Ok(r) = lambda::response_from_result(data, &settings) else {
                continue;
            };
            let mut header = ResponseHeader::build(r.status, None).expect("status was checked");
            if let Some(reason) = &r.reason {
                header
                    .set_reason_phrase(Some(reason))
                    .expect("reason was checked");
            }
            for (name, value) in &r.headers {
                header
                    .append_header(name.clone(), value.as_str())
                    .expect("header was checked");
            }
        }
    }
}

/// Hook-outcome validation: `{"event": <AWS event>, "outcome": <outcome>}`; an outcome that
/// validates always goes on the wire (uri, headers, generated or updated response).
pub fn hook_outcome(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (Some(event), Some(outcome)) = (v.get("event"), v.get("outcome")) else {
        return;
    };
    let Ok(mut event) = CfEvent::from_aws_json(&event.to_string()) else {
        return;
    };
    limits::hide_disallowed(&mut event);
    let Ok(mut outcome) = HookOutcome::from_json(outcome) else {
        return;
    };
    let et = event.config.event_type;
    let read_only_before = limits::read_only(et)
        .iter()
        .map(|name| {
            let headers = match (&event.response, et.is_request()) {
                (Some(r), false) => &r.headers,
                _ => &event.request.headers,
            };
            (
                name.to_string(),
                headers.get(name).map(|l| l.value.clone()).collect(),
            )
        })
        .collect();
    let edits = HeaderEdits {
        changed: None,
        read_only_before,
    };
    let generated = event.response.is_none();
    if edge_event::validate(&mut event, &mut outcome, &edits).is_err() {
        return;
    }
    match outcome {
        HookOutcome::Request(req) => {
            let mut wire = RequestHeader::build("GET", b"/", None).expect("a request header");
            event_wire::apply_uri(&mut wire, &req.uri, &req.querystring)
                .expect("a validated uri goes on the wire");
            event_wire::apply_headers(&mut wire, req.headers, &edits)
                .expect("validated headers go on the wire");
        }
        HookOutcome::Response(resp) if generated => {
            let body = event_wire::response_body(&resp).unwrap_or_default();
            event_wire::generated_header(&resp, body.len())
                .expect("a validated generated response goes on the wire");
        }
        HookOutcome::Response(resp) => {
            let mut wire = ResponseHeader::build(200, None).expect("a response header");
            wire.set_status(resp.status).expect("a validated status");
            if !resp.status_description.is_empty() {
                wire.set_reason_phrase(Some(&resp.status_description))
                    .expect("a validated reason");
            }
            event_wire::apply_headers(&mut wire, resp.headers, &edits)
                .expect("validated headers go on the wire");
        }
    }
}

/// Path normalization: the result is a path the request line can carry, and already normal.
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(normal) = crate::edge::path::normalize(text) else {
        return;
    };
    assert!(normal.starts_with('/'), "{normal:?}");
    assert!(!normal.contains("//"), "{normal:?}");
    for segment in normal.split('/') {
        assert!(segment != "." && segment != "..", "{normal:?}");
    }
    assert!(
        normal.parse::<http::uri::PathAndQuery>().is_ok(),
        "{normal:?} is not a request target"
    );
    let again = crate::edge::path::normalize(&normal).expect("a normal path normalizes");
    assert_eq!(again, normal, "normalizing twice changed {text:?}");
    // Decoding what stays encoded never produces a separator or a dot segment.
    let decoded = percent_encoding::percent_decode_str(&normal).decode_utf8_lossy();
    assert!(!decoded.contains('\\'), "{normal:?}");
    assert!(
        !decoded.split('/').any(|s| s == "." || s == ".."),
        "{normal:?}"
    );
}

/// The `Host` check: what it accepts is the `http` crate's authority without userinfo, a header
/// value, and gives a viewer host (the port cut off) that is the authority's host and passes
/// the check again on its own.
pub fn host(data: &[u8]) {
    if !crate::host::is_valid(data) {
        return;
    }
    let text = std::str::from_utf8(data).expect("a valid host is ASCII");
    assert!(!text.contains('@'), "{text:?} has userinfo");
    let authority: http::uri::Authority = text
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} is not an authority: {e}"));
    let value = http::HeaderValue::from_bytes(data).expect("a valid host is a header value");
    let viewer = crate::edge::viewer::Viewer::new(None, "http", value);
    assert_eq!(viewer.host(), authority.host(), "{text:?}");
    assert!(
        crate::host::is_valid(viewer.host().as_bytes()),
        "{text:?} without its port is no host"
    );
}

/// Cache-key building: `host \n path \n query \n header-value…` (lines of the input); the host
/// and path read back from the key as given.
pub fn cache_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let (Some(host), Some(path)) = (lines.next(), lines.next()) else {
        return;
    };
    let query = lines.next();
    let mut headers = http::HeaderMap::new();
    for (i, value) in lines.enumerate() {
        let Ok(value) = http::HeaderValue::from_str(value) else {
            return;
        };
        let name = if i % 2 == 0 { "cookie" } else { "x-h" };
        headers.append(name, value);
    }
    let policy = CachePolicy {
        query_strings: KeyItems::All,
        headers: KeyItems::Only(vec!["x-h".into()]),
        cookies: KeyItems::All,
        ..CachePolicy::default()
    };
    for scheme in ["http", "https"] {
        let primary = crate::cache::key::primary_key(&policy, scheme, host, path, query, &headers);
        let parts = crate::cache::key::KeyParts::parse(primary.as_bytes());
        assert_eq!(parts.host, host.to_ascii_lowercase());
        assert_eq!(parts.path, path);
    }
}
