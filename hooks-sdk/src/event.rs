//! The Lambda@Edge event and what a hook returns. Inside the proxy the config, request and
//! response live on the host and every accessor is one call, so a hook pays only for what it
//! reads or writes; in native tests they hold the shared model ([`edge_event`]).

use std::rc::Rc;

use edge_event::{CfConfig, CfRequest, CfResponse, HeaderList};

use crate::bindings::edge::hooks::types as wit;
use crate::headers::{Headers, Owner};
use crate::host_handles::{HostResponse, Lent};
use crate::query::QueryString;
use edge_event::{
    BodyAction, BodyEncoding, CfBody as Body, CfOrigin as Origin, CustomOrigin, EventType, S3Origin,
};

/// `Records[0].cf.config`.
#[derive(Debug)]
pub struct Config {
    /// Which trigger is running.
    pub event_type: EventType,
    inner: ConfigInner,
}

#[derive(Debug)]
enum ConfigInner {
    /// The running invocation's, read from the host on demand.
    Host,
    Local(CfConfig),
}

impl Config {
    /// The domain name viewers use.
    pub fn distribution_domain_name(&self) -> String {
        match &self.inner {
            ConfigInner::Host => wit::distribution_domain_name(),
            ConfigInner::Local(c) => c.distribution_domain_name.to_string(),
        }
    }

    /// The distribution id.
    pub fn distribution_id(&self) -> String {
        match &self.inner {
            ConfigInner::Host => wit::distribution_id(),
            ConfigInner::Local(c) => c.distribution_id.to_string(),
        }
    }

    /// The request id (`x-edge-request-id`).
    pub fn request_id(&self) -> String {
        match &self.inner {
            ConfigInner::Host => wit::request_id(),
            ConfigInner::Local(c) => c.request_id.to_string(),
        }
    }
}

/// `Records[0].cf.request`. Changes take effect when the hook returns the request.
#[derive(Debug)]
pub struct Request {
    /// Headers.
    pub headers: Headers,
    inner: RequestInner,
}

#[derive(Debug)]
enum RequestInner {
    Host(Lent<wit::Request>),
    /// The model with its headers moved to `Request::headers`.
    Local(Box<CfRequest>),
}

impl Request {
    /// Viewer IP (read-only).
    pub fn client_ip(&self) -> String {
        match &self.inner {
            RequestInner::Host(r) => r.client_ip(),
            RequestInner::Local(r) => r.client_ip.clone(),
        }
    }

    /// HTTP method (read-only).
    pub fn method(&self) -> String {
        match &self.inner {
            RequestInner::Host(r) => r.method(),
            RequestInner::Local(r) => r.method.clone(),
        }
    }

    /// The path.
    pub fn uri(&self) -> String {
        match &self.inner {
            RequestInner::Host(r) => r.uri(),
            RequestInner::Local(r) => r.uri.clone(),
        }
    }

    /// Sets the path; it must start with `/`.
    pub fn set_uri(&mut self, uri: &str) {
        match &mut self.inner {
            RequestInner::Host(r) => r.set_uri(uri),
            RequestInner::Local(r) => r.uri = uri.to_string(),
        }
    }

    /// The raw query string, without `?`.
    pub fn querystring(&self) -> String {
        match &self.inner {
            RequestInner::Host(r) => r.querystring(),
            RequestInner::Local(r) => r.querystring.clone(),
        }
    }

    /// Sets the raw query string (without `?`).
    pub fn set_querystring(&mut self, querystring: &str) {
        match &mut self.inner {
            RequestInner::Host(r) => r.set_querystring(querystring),
            RequestInner::Local(r) => r.querystring = querystring.to_string(),
        }
    }

    /// The query string parsed: parameters decoded, in order (see [`QueryString`]).
    pub fn query(&self) -> QueryString {
        QueryString::parse(&self.querystring())
    }

    /// Sets the query string from `query`, RFC 3986-encoded (an empty one removes it).
    pub fn set_query(&mut self, query: &QueryString) {
        self.set_querystring(&query.to_string());
    }

    /// Another method on a natively built request (test events only; read-only in the proxy).
    pub(crate) fn set_method_for_tests(&mut self, method: &str) {
        if let RequestInner::Local(r) = &mut self.inner {
            r.method = method.to_string();
        }
    }

    /// The body, when the association has include-body.
    pub fn body(&self) -> Option<Body> {
        match &self.inner {
            RequestInner::Host(r) => r.body().map(body_from_wit),
            RequestInner::Local(r) => r.body.clone(),
        }
    }

    /// Replaces the body (with [`BodyAction::Replace`]); ignored without include-body, as
    /// CloudFront ignores it.
    pub fn set_body(&mut self, body: Body) {
        match &mut self.inner {
            RequestInner::Host(r) => r.set_body(&body_to_wit(body)),
            RequestInner::Local(r) => {
                if r.body.is_some() {
                    r.body = Some(body)
                }
            }
        }
    }

    /// The origin, in origin events.
    pub fn origin(&self) -> Option<Origin> {
        match &self.inner {
            RequestInner::Host(r) => r.origin().map(origin_from_wit),
            RequestInner::Local(r) => r.origin.clone(),
        }
    }

    /// Where the request goes (origin-request; ignored at viewer-request).
    pub fn set_origin(&mut self, origin: Origin) {
        match &mut self.inner {
            RequestInner::Host(r) => r.set_origin(&origin_to_wit(origin)),
            RequestInner::Local(r) => r.origin = Some(origin),
        }
    }

    /// A request of the model (native tests).
    pub(crate) fn local(mut model: CfRequest) -> Self {
        Request {
            headers: Headers::local(std::mem::take(&mut model.headers)),
            inner: RequestInner::Local(Box::new(model)),
        }
    }

    /// The model, with every change made (native tests).
    pub(crate) fn to_model(&self) -> Option<CfRequest> {
        match &self.inner {
            RequestInner::Host(_) => None,
            RequestInner::Local(r) => Some(CfRequest {
                headers: self.headers.to_list(),
                ..(**r).clone()
            }),
        }
    }

    fn into_host(self) -> Result<wit::Outcome, String> {
        let Request { headers, inner } = self;
        drop(headers); // sends its queued edits
        match inner {
            RequestInner::Host(_) => Ok(wit::Outcome::Request),
            RequestInner::Local(_) => Err("a request read from JSON cannot be returned".into()),
        }
    }
}

/// `Records[0].cf.response`, or a response a hook generates.
#[derive(Debug)]
pub struct Response {
    /// Headers.
    pub headers: Headers,
    inner: ResponseInner,
}

#[derive(Debug)]
enum ResponseInner {
    Host(HostResponse),
    /// The model with its headers moved to `Response::headers`.
    Local(Box<CfResponse>),
}

impl Response {
    /// A response with `status`, no headers and no body.
    pub fn new(status: u16) -> Self {
        if cfg!(target_arch = "wasm32") {
            let host = HostResponse::Generated(Rc::new(wit::Response::new(status)));
            Response {
                headers: Headers::of(Owner::Response(host.clone())),
                inner: ResponseInner::Host(host),
            }
        } else {
            Response::local(CfResponse {
                status,
                status_description: String::new(),
                headers: HeaderList::new(),
                body: None,
                body_encoding: BodyEncoding::Text,
            })
        }
    }

    /// Status code (200-599).
    pub fn status(&self) -> u16 {
        match &self.inner {
            ResponseInner::Host(r) => r.status(),
            ResponseInner::Local(r) => r.status,
        }
    }

    /// Sets the status (not at viewer-response, where CloudFront refuses the change).
    pub fn set_status(&mut self, status: u16) {
        match &mut self.inner {
            ResponseInner::Host(r) => r.set_status(status),
            ResponseInner::Local(r) => r.status = status,
        }
    }

    /// Reason phrase; empty means the standard one.
    pub fn status_description(&self) -> String {
        match &self.inner {
            ResponseInner::Host(r) => r.status_description(),
            ResponseInner::Local(r) => r.status_description.clone(),
        }
    }

    /// Sets the reason phrase.
    pub fn set_status_description(&mut self, description: &str) {
        match &mut self.inner {
            ResponseInner::Host(r) => r.set_status_description(description),
            ResponseInner::Local(r) => r.status_description = description.to_string(),
        }
    }

    /// The body the hook set (the origin's body is never visible).
    pub fn body(&self) -> Option<String> {
        match &self.inner {
            ResponseInner::Host(r) => r.body(),
            ResponseInner::Local(r) => r.body.clone(),
        }
    }

    /// Sends `body` (in `encoding`) instead of the origin's.
    pub fn set_body(&mut self, body: &str, encoding: BodyEncoding) {
        match &mut self.inner {
            ResponseInner::Host(r) => r.set_body(body, encoding_to_wit(encoding)),
            ResponseInner::Local(r) => {
                r.body = Some(body.to_string());
                r.body_encoding = encoding;
            }
        }
    }

    /// Sets a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.set(name, value);
        self
    }

    /// Sets a text body (builder style).
    pub fn with_body(mut self, body: impl AsRef<str>) -> Self {
        self.set_body(body.as_ref(), BodyEncoding::Text);
        self
    }

    /// A response of the model (native tests).
    pub(crate) fn local(mut model: CfResponse) -> Self {
        Response {
            headers: Headers::local(std::mem::take(&mut model.headers)),
            inner: ResponseInner::Local(Box::new(model)),
        }
    }

    /// The model, with every change made (native tests).
    pub(crate) fn to_model(&self) -> Option<CfResponse> {
        match &self.inner {
            ResponseInner::Host(_) => None,
            ResponseInner::Local(r) => Some(CfResponse {
                headers: self.headers.to_list(),
                ..(**r).clone()
            }),
        }
    }

    fn into_host(self) -> Result<wit::Outcome, String> {
        let Response { headers, inner } = self;
        drop(headers); // sends its queued edits, and lets go of its share of the handle
        match inner {
            ResponseInner::Host(r) => r.into_outcome(),
            ResponseInner::Local(_) => Err("a response read from JSON cannot be returned".into()),
        }
    }
}

/// The event a hook receives.
#[derive(Debug)]
pub struct Event {
    /// Config.
    pub config: Config,
    /// The request.
    pub request: Request,
    /// The response, in origin-response and viewer-response events.
    pub response: Option<Response>,
}

impl Event {
    /// An event of the model (native tests).
    pub(crate) fn local(e: edge_event::CfEvent) -> Self {
        Event {
            config: Config {
                event_type: e.config.event_type,
                inner: ConfigInner::Local(e.config),
            },
            request: Request::local(e.request),
            response: e.response.map(Response::local),
        }
    }
}

/// What a hook returns.
#[derive(Debug)]
pub enum Outcome {
    /// Continue with this request (request events).
    Request(Request),
    /// Answer with this response (request events: generated; response events: updated).
    Response(Response),
}

impl From<Request> for Outcome {
    fn from(r: Request) -> Self {
        Outcome::Request(r)
    }
}

impl From<Response> for Outcome {
    fn from(r: Response) -> Self {
        Outcome::Response(r)
    }
}

/// Runs `handler` on the event the host lends (`request` and, at response events, `response`,
/// both borrowed for the call) and says what it decided.
pub fn handle(
    event_type: wit::EventType,
    request: &wit::Request,
    response: Option<&wit::Response>,
    handler: fn(Event) -> Result<Outcome, crate::error::Error>,
) -> Result<wit::Outcome, String> {
    let request = Lent::<wit::Request>::of(request);
    let event = Event {
        config: Config {
            event_type: match event_type {
                wit::EventType::ViewerRequest => EventType::ViewerRequest,
                wit::EventType::OriginRequest => EventType::OriginRequest,
                wit::EventType::OriginResponse => EventType::OriginResponse,
                wit::EventType::ViewerResponse => EventType::ViewerResponse,
            },
            inner: ConfigInner::Host,
        },
        request: Request {
            headers: Headers::of(Owner::Request(request.clone())),
            inner: RequestInner::Host(request),
        },
        response: response.map(|r| {
            let r = HostResponse::Lent(Lent::<wit::Response>::of(r));
            Response {
                headers: Headers::of(Owner::Response(r.clone())),
                inner: ResponseInner::Host(r),
            }
        }),
    };
    match handler(event) {
        Ok(Outcome::Request(r)) => r.into_host(),
        Ok(Outcome::Response(r)) => r.into_host(),
        Err(e) => Err(e.to_string()),
    }
}

fn body_from_wit(b: wit::Body) -> Body {
    Body {
        input_truncated: b.input_truncated,
        action: match b.action {
            wit::BodyAction::ReadOnly => BodyAction::ReadOnly,
            wit::BodyAction::Replace => BodyAction::Replace,
        },
        encoding: match b.encoding {
            wit::BodyEncoding::Base64 => BodyEncoding::Base64,
            wit::BodyEncoding::Text => BodyEncoding::Text,
        },
        data: b.data,
    }
}

fn body_to_wit(b: Body) -> wit::Body {
    wit::Body {
        input_truncated: b.input_truncated,
        action: match b.action {
            BodyAction::ReadOnly => wit::BodyAction::ReadOnly,
            BodyAction::Replace => wit::BodyAction::Replace,
        },
        encoding: encoding_to_wit(b.encoding),
        data: b.data,
    }
}

fn origin_from_wit(o: wit::Origin) -> Origin {
    match o {
        wit::Origin::Named(n) => Origin::Named(n),
        wit::Origin::Custom(c) => Origin::Custom(CustomOrigin {
            domain_name: c.domain_name,
            port: c.port,
            protocol: c.protocol,
            path: c.path,
            read_timeout: c.read_timeout,
            keepalive_timeout: c.keepalive_timeout,
            custom_headers: headers_from_wit(c.custom_headers),
            ssl_protocols: c.ssl_protocols,
        }),
        wit::Origin::S3(s) => Origin::S3(S3Origin {
            auth_method: s.auth_method,
            custom_headers: headers_from_wit(s.custom_headers),
            domain_name: s.domain_name,
            path: s.path,
            region: s.region,
        }),
    }
}

fn origin_to_wit(o: Origin) -> wit::Origin {
    match o {
        Origin::Named(n) => wit::Origin::Named(n),
        Origin::Custom(c) => wit::Origin::Custom(wit::CustomOrigin {
            custom_headers: headers_to_wit(&c.custom_headers),
            domain_name: c.domain_name,
            port: c.port,
            protocol: c.protocol,
            path: c.path,
            read_timeout: c.read_timeout,
            keepalive_timeout: c.keepalive_timeout,
            ssl_protocols: c.ssl_protocols,
        }),
        Origin::S3(s) => wit::Origin::S3(wit::S3Origin {
            auth_method: s.auth_method,
            custom_headers: headers_to_wit(&s.custom_headers),
            domain_name: s.domain_name,
            path: s.path,
            region: s.region,
        }),
    }
}

fn headers_from_wit(lines: Vec<wit::Header>) -> HeaderList {
    let mut list = HeaderList::new();
    for h in lines {
        list.append(&h.key, &h.key, &h.value);
    }
    list
}

fn headers_to_wit(list: &HeaderList) -> Vec<wit::Header> {
    list.iter()
        .map(|l| wit::Header {
            key: l.key.clone(),
            value: l.value.clone(),
        })
        .collect()
}

fn encoding_to_wit(e: BodyEncoding) -> wit::BodyEncoding {
    match e {
        BodyEncoding::Base64 => wit::BodyEncoding::Base64,
        BodyEncoding::Text => wit::BodyEncoding::Text,
    }
}
