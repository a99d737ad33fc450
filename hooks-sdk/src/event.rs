//! The Lambda@Edge event and what a hook returns, as Rust types. Everything but the header maps
//! is the shared model's ([`edge_event`]); the request and response here hold [`Headers`], which
//! live on the host inside the proxy.

use edge_event::{
    BodyAction, BodyEncoding, CfBody as Body, CfConfig as Config, CfOrigin as Origin, CustomOrigin,
    EventType, HeaderList,
};

use crate::bindings::edge::hooks::types as wit;
use crate::headers::Headers;

/// `Records[0].cf.request`.
#[derive(Debug)]
pub struct Request {
    /// Viewer IP (read-only).
    pub client_ip: String,
    /// HTTP method (read-only).
    pub method: String,
    /// Path; a new value must start with `/`.
    pub uri: String,
    /// Raw query string without `?`.
    pub querystring: String,
    /// Headers.
    pub headers: Headers,
    /// Body, when the association has include-body.
    pub body: Option<Body>,
    /// Origin, in origin events.
    pub origin: Option<Origin>,
}

/// `Records[0].cf.response`, or a response a hook generates.
#[derive(Debug)]
pub struct Response {
    /// Status code (200-599).
    pub status: u16,
    /// Reason phrase; empty means the standard one.
    pub status_description: String,
    /// Headers.
    pub headers: Headers,
    /// A body to send instead of the origin's (the origin's body is never visible).
    pub body: Option<String>,
    /// Encoding of `body`.
    pub body_encoding: BodyEncoding,
}

impl Response {
    /// A response with `status`, no headers and no body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            status_description: String::new(),
            headers: Headers::new(),
            body: None,
            body_encoding: BodyEncoding::Text,
        }
    }

    /// Sets a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.set(name, value);
        self
    }

    /// Sets a text body (builder style).
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.body_encoding = BodyEncoding::Text;
        self
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

/// Runs `handler` on an event from the host and hands its outcome back.
pub fn handle(
    event: wit::Event,
    handler: fn(Event) -> Result<Outcome, crate::Error>,
) -> Result<wit::Outcome, String> {
    let event = Event {
        config: Config {
            distribution_domain_name: event.config.distribution_domain_name,
            distribution_id: event.config.distribution_id,
            event_type: match event.config.event_type {
                wit::EventType::ViewerRequest => EventType::ViewerRequest,
                wit::EventType::OriginRequest => EventType::OriginRequest,
                wit::EventType::OriginResponse => EventType::OriginResponse,
                wit::EventType::ViewerResponse => EventType::ViewerResponse,
            },
            request_id: event.config.request_id,
        },
        request: Request {
            client_ip: event.request.client_ip,
            method: event.request.method,
            uri: event.request.uri,
            querystring: event.request.querystring,
            headers: Headers::from_host(event.request.headers),
            body: event.request.body.map(body_from_wit),
            origin: event.request.origin.map(origin_from_wit),
        },
        response: event.response.map(|r| Response {
            status: r.status,
            status_description: r.status_description,
            headers: Headers::from_host(r.headers),
            body: None,
            body_encoding: BodyEncoding::Text,
        }),
    };
    match handler(event) {
        Ok(Outcome::Request(r)) => Ok(wit::Outcome::Request(wit::RequestUpdate {
            uri: r.uri,
            querystring: r.querystring,
            headers: r.headers.into_host(),
            body: r.body.map(body_to_wit),
            origin: r.origin.map(origin_to_wit),
        })),
        Ok(Outcome::Response(r)) => Ok(wit::Outcome::Response(wit::ResponseUpdate {
            status: r.status,
            status_description: Some(r.status_description).filter(|d| !d.is_empty()),
            headers: r.headers.into_host(),
            body: r.body,
            body_encoding: encoding_to_wit(r.body_encoding),
        })),
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
        encoding: encoding_from_wit(b.encoding),
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
        wit::Origin::Custom(c) => {
            let mut custom_headers = HeaderList::new();
            for h in c.custom_headers {
                custom_headers.append(&h.key, &h.key, &h.value);
            }
            Origin::Custom(CustomOrigin {
                domain_name: c.domain_name,
                port: c.port,
                protocol: c.protocol,
                path: c.path,
                read_timeout: c.read_timeout,
                keepalive_timeout: c.keepalive_timeout,
                custom_headers,
            })
        }
    }
}

fn origin_to_wit(o: Origin) -> wit::Origin {
    match o {
        Origin::Named(n) => wit::Origin::Named(n),
        Origin::Custom(c) => wit::Origin::Custom(wit::CustomOrigin {
            custom_headers: c
                .custom_headers
                .iter()
                .map(|l| wit::Header {
                    key: l.key.clone(),
                    value: l.value.clone(),
                })
                .collect(),
            domain_name: c.domain_name,
            port: c.port,
            protocol: c.protocol,
            path: c.path,
            read_timeout: c.read_timeout,
            keepalive_timeout: c.keepalive_timeout,
        }),
    }
}

fn encoding_from_wit(e: wit::BodyEncoding) -> BodyEncoding {
    match e {
        wit::BodyEncoding::Base64 => BodyEncoding::Base64,
        wit::BodyEncoding::Text => BodyEncoding::Text,
    }
}

fn encoding_to_wit(e: BodyEncoding) -> wit::BodyEncoding {
    match e {
        BodyEncoding::Base64 => wit::BodyEncoding::Base64,
        BodyEncoding::Text => wit::BodyEncoding::Text,
    }
}
