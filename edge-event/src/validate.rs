//! Checks a hook's result the way CloudFront validates a Lambda@Edge result. A broken rule is a
//! validation error: the viewer gets 502.

use base64::Engine as _;

use crate::edits::HeaderEdits;
use crate::headers::{HeaderLine, HeaderList};
use crate::limits;
use crate::model::{
    BodyAction, BodyEncoding, CfEvent, CfOrigin, CfResponse, CustomOrigin, EventType, HookOutcome,
    S3Origin,
};
use crate::wire;

/// Validates `outcome` against the `event` the hook was given (whose header maps the hook
/// edited as `edits` records) and makes it what the proxy should act on: read-only fields
/// become the event's whatever the hook returned (CloudFront ignores changes to them), moved
/// from the event rather than copied. Both are changed in place: an event and an outcome are a
/// few hundred bytes each, and an invocation validates one per call.
pub fn validate(
    event: &mut CfEvent,
    outcome: &mut HookOutcome,
    edits: &HeaderEdits,
) -> Result<(), String> {
    validate_keeping_line(event, outcome, edits, false)
}

/// [`validate`], where `line_kept` says a request outcome's uri and querystring are not the
/// hook's: it left them as they were, the proxy keeps its own request line (checked when the
/// request arrived), and the outcome's are left empty and not checked.
pub fn validate_keeping_line(
    event: &mut CfEvent,
    outcome: &mut HookOutcome,
    edits: &HeaderEdits,
    line_kept: bool,
) -> Result<(), String> {
    let et = event.config.event_type;
    match outcome {
        HookOutcome::Request(req) => {
            if !et.is_request() {
                return Err(format!(
                    "a {et} function must return the response, not a request"
                ));
            }
            if !line_kept {
                // Both go on the request line: a space or a control character would split it.
                wire::check_request_target(&req.uri, &req.querystring)
                    .map_err(|e| e.to_string())?;
                if req.uri.len() + req.querystring.len() + 1 >= limits::MAX_URL_CHARS {
                    return Err(format!(
                        "uri and querystring exceed {} characters",
                        limits::MAX_URL_CHARS
                    ));
                }
            }
            check_headers(et, edits, &req.headers)?;
            // The origin as presented (a configured one, in its own terms) needs no check: only
            // one the hook set or changed must follow CloudFront's rules.
            if req.origin != event.request.origin {
                match &req.origin {
                    Some(CfOrigin::Custom(origin)) => check_custom_origin(origin, &req.headers)?,
                    Some(CfOrigin::S3(origin)) => check_s3_origin(origin, &req.headers)?,
                    Some(CfOrigin::Named(_)) | None => {}
                }
            }
            // Read-only request fields: CloudFront ignores changes to them.
            let original = &mut event.request;
            req.client_ip = std::mem::take(&mut original.client_ip);
            req.method = std::mem::take(&mut original.method);
            if et == EventType::ViewerRequest {
                req.origin = original.origin.take();
            }
            match (&original.body, &mut req.body) {
                (Some(original), Some(body)) => {
                    body.input_truncated = original.input_truncated;
                    if body.action == BodyAction::Replace {
                        let base64 = body.encoding == BodyEncoding::Base64;
                        if base64
                            && base64::engine::general_purpose::STANDARD
                                .decode(&body.data)
                                .is_err()
                        {
                            return Err("replaced body is not valid base64".into());
                        }
                        let cap = limits::replaced_body_cap(et, base64);
                        if body.data.len() > cap {
                            return Err(format!("replaced body is larger than {cap} bytes"));
                        }
                    }
                }
                (None, Some(_)) => req.body = None,
                _ => {}
            }
            Ok(())
        }
        HookOutcome::Response(resp) => match &event.response {
            None => check_generated(et, resp),
            Some(original) => check_updated_response(et, original, resp, edits),
        },
    }
}

/// Rules for a response a request trigger generated.
fn check_generated(et: EventType, resp: &CfResponse) -> Result<(), String> {
    check_status(resp.status)?;
    wire::reason(&resp.status_description).map_err(|e| e.to_string())?;
    if resp.status == 204 && resp.body.is_some() {
        return Err("a 204 response cannot have a body".into());
    }
    for line in resp.headers.iter() {
        if limits::is_disallowed(&line.name) {
            return Err(format!("header \"{}\" is not allowed", line.key));
        }
        wire::header_line(&line.name, &line.key, &line.value).map_err(|e| e.to_string())?;
    }
    check_body(et, resp)
}

/// Rules for a response trigger's updated response.
fn check_updated_response(
    et: EventType,
    original: &CfResponse,
    resp: &CfResponse,
    edits: &HeaderEdits,
) -> Result<(), String> {
    if et == EventType::ViewerResponse && resp.status != original.status {
        return Err(format!(
            "a viewer-response function cannot change the status ({} to {})",
            original.status, resp.status
        ));
    }
    check_status(resp.status)?;
    wire::reason(&resp.status_description).map_err(|e| e.to_string())?;
    check_headers(et, edits, &resp.headers)?;
    check_body(et, resp)
}

fn check_status(status: u16) -> Result<(), String> {
    wire::status(status).map(drop).map_err(|e| e.to_string())
}

/// CloudFront's rules for a custom origin an origin-request function sets (Lambda@Edge event
/// structure, `origin.custom`). One deliberate difference: `domainName` may be an IP address,
/// so a local origin can be chosen on a developer's machine.
fn check_custom_origin(origin: &CustomOrigin, request_headers: &HeaderList) -> Result<(), String> {
    let name = &origin.domain_name;
    if name.is_empty()
        || name.len() > 253
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(format!(
            "origin.custom.domainName {name:?} is not a host name"
        ));
    }
    if !matches!(origin.port, 80 | 443 | 1024..=65535) {
        return Err(format!(
            "origin.custom.port {} is not 80, 443 or 1024-65535",
            origin.port
        ));
    }
    if !matches!(origin.protocol.as_str(), "http" | "https") {
        return Err(format!(
            "origin.custom.protocol {:?} is not http or https",
            origin.protocol
        ));
    }
    check_origin_path("custom", &origin.path)?;
    if !(4..=60).contains(&origin.read_timeout) {
        return Err(format!(
            "origin.custom.readTimeout {} is outside 4-60 seconds",
            origin.read_timeout
        ));
    }
    if !(1..=60).contains(&origin.keepalive_timeout) {
        return Err(format!(
            "origin.custom.keepaliveTimeout {} is outside 1-60 seconds",
            origin.keepalive_timeout
        ));
    }
    if origin.ssl_protocols.is_empty()
        || origin
            .ssl_protocols
            .iter()
            .any(|p| !matches!(p.as_str(), "TLSv1.2" | "TLSv1.1" | "TLSv1" | "SSLv3"))
    {
        return Err(format!(
            "origin.custom.sslProtocols {:?} must list some of TLSv1.2, TLSv1.1, TLSv1, SSLv3",
            origin.ssl_protocols
        ));
    }
    check_custom_headers("custom", &origin.custom_headers, request_headers)
}

/// CloudFront's rules for an S3 origin a function sets (`origin.s3`).
fn check_s3_origin(origin: &S3Origin, request_headers: &HeaderList) -> Result<(), String> {
    let name = &origin.domain_name;
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(format!(
            "origin.s3.domainName {name:?} is not a bucket's host name (lowercase, at most 128 characters)"
        ));
    }
    check_origin_path("s3", &origin.path)?;
    match origin.auth_method.as_str() {
        "none" => {}
        "origin-access-identity" if !origin.region.is_empty() => {}
        "origin-access-identity" => {
            return Err(
                "origin.s3.region is required with authMethod origin-access-identity".into(),
            )
        }
        other => {
            return Err(format!(
                "origin.s3.authMethod {other:?} is not origin-access-identity or none"
            ))
        }
    }
    check_custom_headers("s3", &origin.custom_headers, request_headers)
}

/// An origin's `path`: empty, or starting with `/`, not ending with `/`, a URL-encoded path of
/// at most 255 characters.
fn check_origin_path(kind: &str, path: &str) -> Result<(), String> {
    if !path.is_empty()
        && (!path.starts_with('/')
            || path.ends_with('/')
            || path.len() > 255
            || wire::check_request_target(path, "").is_err())
    {
        return Err(format!(
            "origin.{kind}.path {path:?} must start with '/', not end with '/', and be a URL-encoded path of at most 255 characters"
        ));
    }
    Ok(())
}

/// `customHeaders` of an origin: no header CloudFront forbids, none also sent by the viewer.
fn check_custom_headers(
    kind: &str,
    custom: &HeaderList,
    request_headers: &HeaderList,
) -> Result<(), String> {
    for line in custom.iter() {
        if limits::is_disallowed(&line.name) || wire::is_proxy_owned(&line.name) {
            return Err(format!(
                "origin.{kind}.customHeaders: header \"{}\" is not allowed",
                line.key
            ));
        }
        if request_headers.contains(&line.name) {
            return Err(format!(
                "origin.{kind}.customHeaders: header \"{}\" is also a request header",
                line.key
            ));
        }
        wire::header_line(&line.name, &line.key, &line.value)
            .map_err(|e| format!("origin.{kind}.customHeaders: {e}"))?;
    }
    Ok(())
}

fn check_body(et: EventType, resp: &CfResponse) -> Result<(), String> {
    let body_len = match (&resp.body, resp.body_encoding) {
        (None, _) => 0,
        (Some(b), BodyEncoding::Text) => b.len(),
        (Some(b), BodyEncoding::Base64) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| "body is not valid base64".to_string())?
            .len(),
    };
    let cap = limits::generated_response_cap(et);
    let size = resp.headers.wire_size() + body_len;
    if size > cap {
        return Err(format!(
            "response is {size} bytes, over the {cap}-byte limit for {et}"
        ));
    }
    Ok(())
}

/// Disallowed headers may not appear, read-only headers may not change, and every line must be
/// fit for the wire. Only names the hook edited are looked at: the rest are the event's, which
/// came from the wire.
fn check_headers(et: EventType, edits: &HeaderEdits, after: &HeaderList) -> Result<(), String> {
    let disallowed = |line: &HeaderLine| {
        if limits::is_disallowed(&line.name) {
            return Some(format!("header \"{}\" is not allowed", line.key));
        }
        wire::header_line(&line.name, &line.key, &line.value)
            .err()
            .map(|e| e.to_string())
    };
    // One pass over the lines, whatever the number of names edited (stored names are
    // lowercase, as the edited names are).
    let found = match &edits.changed {
        None => after.iter().find_map(disallowed),
        Some(names) if names.is_empty() => None,
        Some(names) => after
            .iter()
            .filter(|line| names.contains(&line.name))
            .find_map(disallowed),
    };
    if let Some(error) = found {
        return Err(error);
    }
    for name in limits::read_only(et) {
        if edits.touches(name) && !after.get(name).map(|l| &l.value).eq(edits.before(name)) {
            return Err(format!("header \"{name}\" is read-only at {et}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CfConfig, CfRequest};

    /// `validate` on owned values: the outcome as the proxy would act on it, or the reason.
    fn checked(
        mut event: CfEvent,
        mut outcome: HookOutcome,
        edits: &HeaderEdits,
    ) -> Result<HookOutcome, String> {
        validate(&mut event, &mut outcome, edits).map(|()| outcome)
    }

    fn event(et: EventType, response: Option<CfResponse>) -> CfEvent {
        let mut headers = HeaderList::new();
        headers.append("host", "Host", "example.com");
        CfEvent {
            config: CfConfig {
                distribution_domain_name: "d".into(),
                distribution_id: "E".into(),
                event_type: et,
                request_id: "r".into(),
            },
            request: CfRequest {
                client_ip: "203.0.113.1".into(),
                method: "GET".into(),
                uri: "/".into(),
                querystring: String::new(),
                headers,
                body: None,
                origin: None,
            },
            response,
        }
    }

    fn response(status: u16) -> CfResponse {
        CfResponse {
            status,
            status_description: "OK".into(),
            headers: HeaderList::new(),
            body: None,
            body_encoding: BodyEncoding::Text,
        }
    }

    #[test]
    fn host_is_read_only_at_viewer_request() {
        let e = event(EventType::ViewerRequest, None);
        let mut req = e.request.clone();
        req.headers
            .set("host".into(), [(String::new(), "evil.example".into())]);
        let edits = HeaderEdits {
            changed: Some(vec!["host".into()]),
            read_only_before: vec![("host".into(), vec!["example.com".into()])],
        };
        assert!(
            checked(e.clone(), HookOutcome::Request(req.clone()), &edits)
                .unwrap_err()
                .contains("read-only")
        );
        // The same value written back is no change.
        req.headers
            .set("host".into(), [(String::new(), "example.com".into())]);
        assert!(checked(e.clone(), HookOutcome::Request(req), &edits).is_ok());
    }

    #[test]
    fn a_replaced_map_is_checked_line_by_line() {
        let e = event(EventType::ViewerRequest, None);
        let mut req = e.request.clone();
        req.headers = HeaderList::new();
        let edits = HeaderEdits {
            changed: None,
            read_only_before: vec![("host".into(), vec!["example.com".into()])],
        };
        // Host dropped by returning a map without it.
        assert!(
            checked(e.clone(), HookOutcome::Request(req.clone()), &edits)
                .unwrap_err()
                .contains("read-only")
        );
        req.headers.append("host", "Host", "example.com");
        req.headers.append("connection", "Connection", "close");
        assert!(checked(e.clone(), HookOutcome::Request(req), &edits)
            .unwrap_err()
            .contains("not allowed"));
    }

    #[test]
    fn generated_response_rules() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::ViewerRequest, None);
        assert!(checked(e.clone(), HookOutcome::Response(response(600)), &none).is_err());
        let mut r = response(204);
        r.body = Some(String::new());
        assert!(checked(e.clone(), HookOutcome::Response(r), &none).is_err());
        let mut big = response(200);
        big.body = Some("x".repeat(41 * 1024));
        assert!(checked(e.clone(), HookOutcome::Response(big.clone()), &none).is_err());
        let origin = event(EventType::OriginRequest, None);
        assert!(checked(origin.clone(), HookOutcome::Response(big), &none).is_ok());
        let mut bad = response(200);
        bad.headers.append("x-cache", "", "HIT");
        assert!(checked(e.clone(), HookOutcome::Response(bad), &none).is_err());
    }

    #[test]
    fn viewer_response_cannot_change_status() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::ViewerResponse, Some(response(200)));
        assert!(checked(e.clone(), HookOutcome::Response(response(201)), &none).is_err());
        assert!(checked(e.clone(), HookOutcome::Response(response(200)), &none).is_ok());
    }

    fn custom_origin() -> CustomOrigin {
        CustomOrigin {
            domain_name: "example.org".into(),
            port: 443,
            protocol: "https".into(),
            path: String::new(),
            read_timeout: 30,
            keepalive_timeout: 5,
            custom_headers: HeaderList::new(),
            ssl_protocols: vec!["TLSv1.1".into(), "TLSv1.2".into()],
        }
    }

    fn s3_origin() -> S3Origin {
        S3Origin {
            auth_method: "origin-access-identity".into(),
            custom_headers: HeaderList::new(),
            domain_name: "bucket.s3.us-east-1.amazonaws.com".into(),
            path: "/site".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn s3_origins_follow_cloudfronts_rules() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::OriginRequest, None);
        let with = |origin: S3Origin| {
            let mut req = e.request.clone();
            req.origin = Some(CfOrigin::S3(origin));
            checked(e.clone(), HookOutcome::Request(req), &none)
        };
        assert!(with(s3_origin()).is_ok());
        let bad = [
            S3Origin {
                domain_name: "Bucket.s3.amazonaws.com".into(),
                ..s3_origin()
            },
            S3Origin {
                domain_name: "".into(),
                ..s3_origin()
            },
            S3Origin {
                domain_name: "a".repeat(129),
                ..s3_origin()
            },
            S3Origin {
                path: "site".into(),
                ..s3_origin()
            },
            S3Origin {
                region: "".into(),
                ..s3_origin()
            },
            S3Origin {
                auth_method: "origin-access-control".into(),
                ..s3_origin()
            },
        ];
        for origin in bad {
            assert!(with(origin.clone()).is_err(), "{origin:?}");
        }
        assert!(with(S3Origin {
            region: "".into(),
            auth_method: "none".into(),
            ..s3_origin()
        })
        .is_ok());
    }

    #[test]
    fn an_origin_returned_as_shown_is_not_checked() {
        // A configured origin shown in its own terms (an IP, a 100 s read timeout) may go back
        // unchanged; the same fields set by a hook are refused.
        let none = HeaderEdits::replaced();
        let shown = CfOrigin::Custom(CustomOrigin {
            read_timeout: 100,
            ..custom_origin()
        });
        let mut e = event(EventType::OriginRequest, None);
        e.request.origin = Some(shown.clone());
        let same = e.request.clone();
        assert!(checked(e.clone(), HookOutcome::Request(same), &none).is_ok());
        let mut e = event(EventType::OriginRequest, None);
        e.request.origin = Some(CfOrigin::Custom(custom_origin()));
        let mut changed = e.request.clone();
        changed.origin = Some(shown);
        assert!(checked(e, HookOutcome::Request(changed), &none).is_err());
    }

    #[test]
    fn custom_origins_follow_cloudfronts_rules() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::OriginRequest, None);
        let with = |origin: CustomOrigin| {
            let mut req = e.request.clone();
            req.origin = Some(CfOrigin::Custom(origin));
            checked(e.clone(), HookOutcome::Request(req), &none)
        };
        assert!(with(custom_origin()).is_ok());
        let mut bad: Vec<CustomOrigin> = Vec::new();
        for domain in ["", "a:80", "a/b", "a b", "a\r\nb"] {
            bad.push(CustomOrigin {
                domain_name: domain.into(),
                ..custom_origin()
            });
        }
        for port in [0, 22, 8, 1023] {
            bad.push(CustomOrigin {
                port,
                ..custom_origin()
            });
        }
        bad.push(CustomOrigin {
            protocol: "ftp".into(),
            ..custom_origin()
        });
        for path in ["a", "/a/", "/a b", "/a?b", "/a\r\n"] {
            bad.push(CustomOrigin {
                path: path.into(),
                ..custom_origin()
            });
        }
        for read_timeout in [0, 3, 61] {
            bad.push(CustomOrigin {
                read_timeout,
                ..custom_origin()
            });
        }
        for keepalive_timeout in [0, 61] {
            bad.push(CustomOrigin {
                keepalive_timeout,
                ..custom_origin()
            });
        }
        for ssl_protocols in [vec![], vec!["TLSv1.3".to_string()]] {
            bad.push(CustomOrigin {
                ssl_protocols,
                ..custom_origin()
            });
        }
        for (name, value) in [
            ("host", "x"),
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("x-ok", "a\r\nb"),
        ] {
            let mut origin = custom_origin();
            origin.custom_headers.append(name, "", value);
            bad.push(origin);
        }
        for origin in bad {
            assert!(with(origin.clone()).is_err(), "{origin:?}");
        }
    }

    #[test]
    fn wire_breaking_results_are_invalid() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::ViewerRequest, None);
        let mut r = response(200);
        r.status_description = "OK\r\nX-Inj: 1".into();
        assert!(checked(e.clone(), HookOutcome::Response(r), &none).is_err());
        let mut r = response(200);
        r.headers.push(HeaderLine {
            name: "x-a".into(),
            key: "Transfer-Encoding".into(),
            value: "chunked".into(),
        });
        assert!(checked(e.clone(), HookOutcome::Response(r), &none).is_err());
        let mut r = response(200);
        r.headers.append("x-a", "", "1\r\nX-Inj: 2");
        assert!(checked(e.clone(), HookOutcome::Response(r), &none).is_err());
        for uri in ["/a b", "/a\r\nb", "/a?b", "/a#b", "/caf\u{e9}"] {
            let mut req = e.request.clone();
            req.uri = uri.into();
            assert!(
                checked(e.clone(), HookOutcome::Request(req), &none).is_err(),
                "{uri:?}"
            );
        }
        let mut req = e.request.clone();
        req.headers.append("x-a", "", "1\n2");
        assert!(checked(e.clone(), HookOutcome::Request(req), &none).is_err());
        let origin = event(EventType::OriginResponse, Some(response(200)));
        let mut r = response(200);
        r.status_description = "OK\n".into();
        assert!(checked(origin.clone(), HookOutcome::Response(r), &none).is_err());
    }

    #[test]
    fn uri_must_start_with_slash() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::ViewerRequest, None);
        let mut req = e.request.clone();
        req.uri = "index.html".into();
        assert!(checked(e.clone(), HookOutcome::Request(req), &none).is_err());
    }
}
