//! Checks a hook's result the way CloudFront validates a Lambda@Edge result. A broken rule is a
//! validation error: the viewer gets 502.

use base64::Engine as _;

use super::edits::HeaderEdits;
use super::limits;
use crate::events::{
    BodyAction, BodyEncoding, CfEvent, CfResponse, EventType, HeaderLine, HeaderList, HookOutcome,
};

/// Validates `outcome` against the `event` the hook was given (whose header maps the hook
/// edited as `edits` records), returning what the proxy should act on (read-only fields the
/// hook changed are put back where CloudFront ignores changes).
pub fn validate(
    event: &CfEvent,
    outcome: HookOutcome,
    edits: &HeaderEdits,
) -> Result<HookOutcome, String> {
    let et = event.config.event_type;
    match outcome {
        HookOutcome::Request(mut req) => {
            if !et.is_request() {
                return Err(format!(
                    "a {et} function must return the response, not a request"
                ));
            }
            if !req.uri.starts_with('/') {
                return Err(format!("uri \"{}\" must start with '/'", req.uri));
            }
            if req
                .querystring
                .bytes()
                .any(|b| b == b' ' || b == b'#' || b.is_ascii_control())
            {
                return Err("querystring contains a space, '#' or a control character".into());
            }
            if req.uri.len() + req.querystring.len() + 1 >= limits::MAX_URL_CHARS {
                return Err(format!(
                    "uri and querystring exceed {} characters",
                    limits::MAX_URL_CHARS
                ));
            }
            check_headers(et, edits, &req.headers)?;
            // Read-only request fields: CloudFront ignores changes to them.
            req.client_ip = event.request.client_ip.clone();
            req.method = event.request.method.clone();
            if et == EventType::ViewerRequest {
                req.origin = event.request.origin.clone();
            }
            match (&event.request.body, &mut req.body) {
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
            Ok(HookOutcome::Request(req))
        }
        HookOutcome::Response(resp) => {
            match &event.response {
                None => check_generated(et, &resp)?,
                Some(original) => check_updated_response(et, original, &resp, edits)?,
            }
            Ok(HookOutcome::Response(resp))
        }
    }
}

/// Rules for a response a request trigger generated.
fn check_generated(et: EventType, resp: &CfResponse) -> Result<(), String> {
    check_status(resp.status)?;
    if resp.status == 204 && resp.body.is_some() {
        return Err("a 204 response cannot have a body".into());
    }
    for line in resp.headers.iter() {
        if limits::is_disallowed(&line.name) {
            return Err(format!("header \"{}\" is not allowed", line.key));
        }
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
    if et == EventType::ViewerResponse {
        if resp.status != original.status {
            return Err(format!(
                "a viewer-response function cannot change the status ({} to {})",
                original.status, resp.status
            ));
        }
    } else {
        check_status(resp.status)?;
    }
    check_headers(et, edits, &resp.headers)?;
    check_body(et, resp)
}

fn check_status(status: u16) -> Result<(), String> {
    if (200..=599).contains(&status) {
        Ok(())
    } else {
        Err(format!("status {status} is outside 200-599"))
    }
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

/// Disallowed headers may not appear; read-only headers may not change. Only names the hook
/// edited are looked at: the rest are the event's, which were checked when it was built.
fn check_headers(et: EventType, edits: &HeaderEdits, after: &HeaderList) -> Result<(), String> {
    let disallowed = |line: &HeaderLine| {
        limits::is_disallowed(&line.name).then(|| format!("header \"{}\" is not allowed", line.key))
    };
    let found = match &edits.changed {
        None => after.iter().find_map(disallowed),
        Some(names) => names
            .iter()
            .find_map(|name| after.get(name).find_map(disallowed)),
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
    use crate::events::{CfConfig, CfRequest};

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
        assert!(validate(&e, HookOutcome::Request(req.clone()), &edits)
            .unwrap_err()
            .contains("read-only"));
        // The same value written back is no change.
        req.headers
            .set("host".into(), [(String::new(), "example.com".into())]);
        assert!(validate(&e, HookOutcome::Request(req), &edits).is_ok());
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
        assert!(validate(&e, HookOutcome::Request(req.clone()), &edits)
            .unwrap_err()
            .contains("read-only"));
        req.headers.append("host", "Host", "example.com");
        req.headers.append("connection", "Connection", "close");
        assert!(validate(&e, HookOutcome::Request(req), &edits)
            .unwrap_err()
            .contains("not allowed"));
    }

    #[test]
    fn generated_response_rules() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::ViewerRequest, None);
        assert!(validate(&e, HookOutcome::Response(response(600)), &none).is_err());
        let mut r = response(204);
        r.body = Some(String::new());
        assert!(validate(&e, HookOutcome::Response(r), &none).is_err());
        let mut big = response(200);
        big.body = Some("x".repeat(41 * 1024));
        assert!(validate(&e, HookOutcome::Response(big.clone()), &none).is_err());
        let origin = event(EventType::OriginRequest, None);
        assert!(validate(&origin, HookOutcome::Response(big), &none).is_ok());
        let mut bad = response(200);
        bad.headers.append("x-cache", "", "HIT");
        assert!(validate(&e, HookOutcome::Response(bad), &none).is_err());
    }

    #[test]
    fn viewer_response_cannot_change_status() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::ViewerResponse, Some(response(200)));
        assert!(validate(&e, HookOutcome::Response(response(201)), &none).is_err());
        assert!(validate(&e, HookOutcome::Response(response(200)), &none).is_ok());
    }

    #[test]
    fn uri_must_start_with_slash() {
        let none = HeaderEdits::replaced();
        let e = event(EventType::ViewerRequest, None);
        let mut req = e.request.clone();
        req.uri = "index.html".into();
        assert!(validate(&e, HookOutcome::Request(req), &none).is_err());
    }
}
