//! Native unit tests of a hook: events built in one line, and the hook run with the proxy's own
//! validation, so a result the proxy would refuse (its 502) fails `cargo test` too.

use edge_event::{
    limits, CfConfig, CfEvent, CfRequest, CfResponse, EventType, HeaderEdits, HeaderList,
    HookOutcome,
};

use crate::event::{Event, Outcome};

/// The distribution of AWS's sample events, so a test reads like the samples.
const SAMPLE_DOMAIN: &str = "d111111abcdef8.cloudfront.net";
const SAMPLE_ID: &str = "EDFDVBD6EXAMPLE";
const SAMPLE_REQUEST_ID: &str = "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==";
const SAMPLE_CLIENT: &str = "203.0.113.178";

impl Event {
    /// A viewer-request event for `GET target` (`/path?query`), as AWS's sample: `Host` the
    /// distribution's domain, `User-Agent` and `Accept` as curl sends them.
    ///
    /// ```
    /// use edge_hooks::{Event, Outcome};
    ///
    /// fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    ///     let mut request = event.request;
    ///     let mut query = request.query();
    ///     if let Some(lang) = query.get("lang") {
    ///         query.remove("lang");
    ///         request.set_uri(&format!("/{lang}{}", request.uri()));
    ///         request.set_query(&query);
    ///     }
    ///     Ok(request.into())
    /// }
    ///
    /// let out = edge_hooks::run(handler, Event::viewer_request("/docs?lang=fr&page=2")).unwrap();
    /// let edge_hooks::Outcome::Request(request) = out else { panic!("a request") };
    /// assert_eq!(request.uri(), "/fr/docs");
    /// assert_eq!(request.querystring(), "page=2");
    /// ```
    pub fn viewer_request(target: &str) -> Event {
        Event::sample(EventType::ViewerRequest, target, None)
    }

    /// An origin-request event for `GET target`, as AWS's sample shows one (with
    /// `X-Forwarded-For` and `Via`; no `request.origin`: set one with `with_origin`).
    pub fn origin_request(target: &str) -> Event {
        Event::sample(EventType::OriginRequest, target, None)
    }

    /// An origin-response event for `GET target` answered with `status`.
    pub fn origin_response(target: &str, status: u16) -> Event {
        Event::sample(EventType::OriginResponse, target, Some(status))
    }

    /// A viewer-response event for `GET target` answered with `status`.
    pub fn viewer_response(target: &str, status: u16) -> Event {
        Event::sample(EventType::ViewerResponse, target, Some(status))
    }

    /// The event with another request method (`POST`, …).
    pub fn with_method(mut self, method: &str) -> Event {
        self.request.set_method_for_tests(method);
        self
    }

    /// The event with one more request header line.
    pub fn with_header(mut self, name: &str, value: &str) -> Event {
        self.request.headers.append(name, value);
        self
    }

    /// The event with one more response header line (response events).
    pub fn with_response_header(mut self, name: &str, value: &str) -> Event {
        if let Some(response) = &mut self.response {
            response.headers.append(name, value);
        }
        self
    }

    /// The event with `request.origin` (origin events).
    pub fn with_origin(mut self, origin: edge_event::CfOrigin) -> Event {
        self.request.set_origin(origin);
        self
    }

    fn sample(event_type: EventType, target: &str, status: Option<u16>) -> Event {
        let (uri, querystring) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = HeaderList::new();
        headers.append("host", "Host", SAMPLE_DOMAIN);
        if event_type.is_viewer() {
            headers.append("user-agent", "User-Agent", "curl/7.66.0");
            headers.append("accept", "accept", "*/*");
        } else {
            headers.append("x-forwarded-for", "X-Forwarded-For", SAMPLE_CLIENT);
            headers.append("user-agent", "User-Agent", "Amazon CloudFront");
            headers.append(
                "via",
                "Via",
                "2.0 2afae0d44e2540f472c0635ab62c232b.cloudfront.net (CloudFront)",
            );
        }
        let response = status.map(|status| {
            let mut headers = HeaderList::new();
            headers.append("content-type", "Content-Type", "text/html; charset=utf-8");
            CfResponse {
                status,
                status_description: http_reason(status).to_string(),
                headers,
                body: None,
                body_encoding: edge_event::BodyEncoding::Text,
            }
        });
        let mut event = CfEvent {
            config: CfConfig {
                distribution_domain_name: SAMPLE_DOMAIN.into(),
                distribution_id: SAMPLE_ID.into(),
                event_type,
                request_id: SAMPLE_REQUEST_ID.into(),
            },
            request: CfRequest {
                client_ip: SAMPLE_CLIENT.into(),
                method: "GET".into(),
                uri: uri.into(),
                querystring: querystring.into(),
                headers,
                body: None,
                origin: None,
            },
            response,
        };
        limits::hide_disallowed(&mut event);
        Event::local(event)
    }

    /// The event as the model holds it, every change made (native events only).
    pub(crate) fn to_model(&self) -> Option<CfEvent> {
        Some(CfEvent {
            config: CfConfig {
                distribution_domain_name: self.config.distribution_domain_name().into(),
                distribution_id: self.config.distribution_id().into(),
                event_type: self.config.event_type,
                request_id: self.config.request_id().into(),
            },
            request: self.request.to_model()?,
            response: match &self.response {
                Some(r) => Some(r.to_model()?),
                None => None,
            },
        })
    }
}

/// Runs `handler` on `event` the way the proxy runs a hook, and checks the result by the
/// proxy's own rules (the same code the proxy runs: status, headers and their read-only names,
/// sizes, uri, origin). Returns the outcome as the proxy would act on it (changes CloudFront
/// ignores undone), the handler's error, or why the proxy would refuse the result (its 502).
pub fn run(
    handler: fn(Event) -> Result<Outcome, crate::error::Error>,
    event: Event,
) -> Result<Outcome, crate::error::Error> {
    let original = event
        .to_model()
        .ok_or("run takes an event built natively (Event::viewer_request, from_aws_json)")?;
    let outcome = handler(event)?;
    let validated = check(original, &outcome)?;
    Ok(match validated {
        HookOutcome::Request(r) => Outcome::Request(crate::event::Request::local(r)),
        HookOutcome::Response(r) => Outcome::Response(crate::event::Response::local(r)),
    })
}

/// Checks `outcome` by the rules the proxy applies at `trigger` (what a trigger may return,
/// status, header names and values, disallowed headers, sizes, uri and query string, origin),
/// with the proxy's own code. Without the event it came from, changes to read-only fields and
/// headers cannot be seen: [`run`] checks those too.
///
/// ```
/// use edge_hooks::{Event, EventType, Outcome, Response};
///
/// let redirect: Outcome = Response::new(302).with_header("location", "/new").into();
/// assert!(edge_hooks::validate(EventType::ViewerRequest, &redirect).is_ok());
/// let split: Outcome = Response::new(200).with_header("x-a", "1\r\nX-Injected: 1").into();
/// assert!(edge_hooks::validate(EventType::ViewerRequest, &split).is_err());
/// // A response trigger must return the response, not a request.
/// let request: Outcome = Event::viewer_request("/").request.into();
/// assert!(edge_hooks::validate(EventType::ViewerResponse, &request).is_err());
/// ```
pub fn validate(trigger: EventType, outcome: &Outcome) -> Result<(), crate::error::Error> {
    let model = outcome
        .to_model()
        .ok_or("validate takes an outcome built natively")?;
    let mut event = Event::sample(trigger, "/", (!trigger.is_request()).then_some(200))
        .to_model()
        .expect("a native event");
    // The outcome's own request or response stands for the event's: its read-only fields are
    // then unchanged by definition.
    match &model {
        HookOutcome::Request(r) => event.request = r.clone(),
        HookOutcome::Response(r) if !trigger.is_request() => event.response = Some(r.clone()),
        HookOutcome::Response(_) => {}
    }
    check(event, outcome).map(|_| ())
}

/// Checks `outcome` against the event it came from with the proxy's validation.
pub(crate) fn check(
    mut original: CfEvent,
    outcome: &Outcome,
) -> Result<HookOutcome, crate::error::Error> {
    let mut outcome = outcome
        .to_model()
        .ok_or("the handler returned a request or response from outside this event")?;
    let before = match &outcome {
        HookOutcome::Request(_) => Some(&original.request.headers),
        HookOutcome::Response(_) => original.response.as_ref().map(|r| &r.headers),
    };
    let edits = HeaderEdits {
        changed: None,
        read_only_before: before
            .map(|list| {
                limits::read_only(original.config.event_type)
                    .iter()
                    .map(|name| {
                        let values = list.get(name).map(|l| l.value.clone()).collect();
                        (name.to_string(), values)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    edge_event::validate(&mut original, &mut outcome, &edits)
        .map(|()| outcome)
        .map_err(|reason| format!("the proxy would refuse this result (502): {reason}").into())
}

/// The standard reason phrase of `status` for the sample responses.
fn http_reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Response;

    #[test]
    fn builders_make_events_shaped_like_aws_samples() {
        let e = Event::viewer_request("/a/b?x=1&y=%20").with_header("cookie", "s=1");
        assert_eq!(e.config.event_type, EventType::ViewerRequest);
        assert_eq!(e.config.distribution_domain_name(), SAMPLE_DOMAIN);
        assert_eq!(e.request.uri(), "/a/b");
        assert_eq!(e.request.querystring(), "x=1&y=%20");
        assert_eq!(e.request.query().get("y").as_deref(), Some(" "));
        assert_eq!(e.request.method(), "GET");
        assert_eq!(
            e.request.headers.first("host").as_deref(),
            Some(SAMPLE_DOMAIN)
        );
        assert_eq!(e.request.headers.first("cookie").as_deref(), Some("s=1"));
        let e = Event::origin_response("/", 404).with_method("POST");
        assert_eq!(e.request.method(), "POST");
        assert_eq!(e.response.as_ref().unwrap().status(), 404);
        assert!(e.request.headers.contains("via"));
    }

    #[test]
    fn run_refuses_what_the_proxy_refuses() {
        fn no_slash(event: Event) -> Result<Outcome, crate::error::Error> {
            let mut request = event.request;
            request.set_uri("no-slash");
            Ok(request.into())
        }
        let refused = run(no_slash, Event::viewer_request("/")).unwrap_err();
        assert!(refused.to_string().contains("(502)"), "{refused}");
        fn status_change(event: Event) -> Result<Outcome, crate::error::Error> {
            let mut response = event.response.ok_or("response")?;
            response.set_status(500);
            Ok(response.into())
        }
        // Viewer-response may not change the status; origin-response may.
        assert!(run(status_change, Event::viewer_response("/", 200)).is_err());
        assert!(run(status_change, Event::origin_response("/", 200)).is_ok());
        fn generated(_: Event) -> Result<Outcome, crate::error::Error> {
            Ok(Response::new(302).with_header("location", "/x").into())
        }
        let Outcome::Response(r) = run(generated, Event::viewer_request("/")).unwrap() else {
            panic!("a response");
        };
        assert_eq!(r.status(), 302);
    }
}
