//! AWS JSON for native unit tests, read, written and checked by the proxy's own code
//! ([`edge_event`]): an event the proxy would refuse is refused here, and a result the proxy
//! would refuse (a 502 in production) fails the test.

use edge_event::{limits, BodyEncoding, CfConfig, CfEvent, CfRequest, CfResponse, HookOutcome};
use serde_json::Value;

use crate::event::{Event, Outcome};

impl Event {
    /// Reads an AWS Lambda@Edge event (`{"Records":[{"cf":{…}}]}`), e.g. one of AWS's samples,
    /// as the proxy would show it to a hook (headers hooks never see are left out).
    pub fn from_aws_json(text: &str) -> Result<Event, crate::error::Error> {
        let mut event = CfEvent::from_aws_json(text)?;
        limits::hide_disallowed(&mut event);
        Ok(Event::local(event))
    }

    /// The event as AWS JSON, every field read (inside the proxy, one call each): what a
    /// Lambda@Edge function logs with `console.log(JSON.stringify(event))`.
    pub fn to_aws_json(&self) -> Value {
        let r = &self.request;
        let event = CfEvent {
            config: CfConfig {
                distribution_domain_name: self.config.distribution_domain_name().into(),
                distribution_id: self.config.distribution_id().into(),
                event_type: self.config.event_type,
                request_id: self.config.request_id().into(),
            },
            request: CfRequest {
                client_ip: r.client_ip(),
                method: r.method(),
                uri: r.uri(),
                querystring: r.querystring(),
                headers: r.headers.to_list(),
                body: r.body(),
                origin: r.origin(),
            },
            response: self.response.as_ref().map(|resp| CfResponse {
                status: resp.status(),
                status_description: resp.status_description(),
                headers: resp.headers.to_list(),
                body: resp.body(),
                body_encoding: BodyEncoding::Text,
            }),
        };
        event.to_aws_json()
    }
}

impl Outcome {
    /// What a Lambda@Edge function would return, as AWS JSON (of an outcome built natively,
    /// from an event read with [`Event::from_aws_json`]).
    pub fn to_aws_json(&self) -> Value {
        match self.to_model() {
            Some(outcome) => outcome.to_json(),
            None => Value::Null,
        }
    }

    pub(crate) fn to_model(&self) -> Option<HookOutcome> {
        Some(match self {
            Outcome::Request(r) => HookOutcome::Request(r.to_model()?),
            Outcome::Response(r) => HookOutcome::Response(r.to_model()?),
        })
    }
}

/// Runs `handler` on the AWS JSON event `event` the way the proxy runs a hook: the event as the
/// proxy shows it, the result checked by the proxy's rules (status, headers, sizes, read-only
/// fields, custom origins). Returns the result as AWS JSON (after the changes CloudFront ignores
/// are undone), the handler's error, or why the proxy would refuse the result (its 502).
///
/// ```
/// use edge_hooks::{Event, Outcome};
///
/// fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
///     let mut request = event.request;
///     request.set_uri("no-slash");
///     Ok(request.into())
/// }
///
/// let event = r#"{"Records":[{"cf":{"config":{"eventType":"viewer-request"},
///     "request":{"clientIp":"203.0.113.1","method":"GET","uri":"/","headers":{}}}}]}"#;
/// let refused = edge_hooks::run_on_aws_json(handler, event).unwrap_err();
/// assert!(refused.to_string().contains("must start with '/'"));
/// ```
pub fn run_on_aws_json(
    handler: fn(Event) -> Result<Outcome, crate::error::Error>,
    event: &str,
) -> Result<Value, crate::error::Error> {
    let mut original = CfEvent::from_aws_json(event)?;
    limits::hide_disallowed(&mut original);
    let outcome = handler(Event::local(original.clone()))?;
    let outcome = crate::testing::check(original, &outcome)?;
    Ok(outcome.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Response;
    use edge_event::EventType;

    const VIEWER_REQUEST: &str = include_str!("../../tests/vectors/cf-viewer-request.json");

    #[test]
    fn aws_sample_event_reads_with_original_case_keys() {
        let e = Event::from_aws_json(VIEWER_REQUEST).unwrap();
        assert_eq!(e.config.event_type, EventType::ViewerRequest);
        assert_eq!(e.request.uri(), "/");
        let host = e.request.headers.get("Host");
        assert_eq!(host[0].key, "Host");
        assert_eq!(
            e.request.headers.first("user-agent").as_deref(),
            Some("curl/7.66.0")
        );
    }

    #[test]
    fn missing_keys_are_filled_and_repeats_kept() {
        let mut r = Response::new(200).with_header("x-frame-options", "DENY");
        r.headers.append("set-cookie", "a=1");
        r.headers.append("set-cookie", "b=2");
        let json = Outcome::Response(r).to_aws_json();
        assert_eq!(
            json["headers"]["x-frame-options"][0]["key"],
            "X-Frame-Options"
        );
        assert_eq!(json["headers"]["set-cookie"].as_array().unwrap().len(), 2);
        assert_eq!(json["status"], "200");
    }

    /// The SDK reads events with the proxy's reader: an origin port the proxy refuses is
    /// refused here too (an earlier reader of its own defaulted it to 443).
    #[test]
    fn events_the_proxy_refuses_are_refused() {
        let bad_port = include_str!("../../tests/vectors/cf-origin-request.json")
            .replace("\"port\": 443", "\"port\": \"https\"");
        assert!(CfEvent::from_aws_json(&bad_port).is_err());
        assert!(Event::from_aws_json(&bad_port).is_err());
    }

    fn set_uri(event: Event) -> Result<Outcome, crate::error::Error> {
        let mut request = event.request;
        let uri = request.headers.first("x-new-uri").unwrap_or_default();
        request.set_uri(&uri);
        Ok(request.into())
    }

    /// A result the proxy would refuse fails a native test, with the proxy's reason.
    #[test]
    fn results_are_checked_by_the_proxys_rules() {
        let event = |uri: &str| {
            VIEWER_REQUEST.replace(
                "\"headers\": {",
                &format!("\"headers\": {{\"x-new-uri\": [{{\"key\": \"X-New-Uri\", \"value\": \"{uri}\"}}],"),
            )
        };
        let ok = run_on_aws_json(set_uri, &event("/en/index.html")).unwrap();
        assert_eq!(ok["uri"], "/en/index.html");
        let refused = run_on_aws_json(set_uri, &event("en/index.html")).unwrap_err();
        assert!(refused.to_string().contains("(502)"), "{refused}");
    }
}
