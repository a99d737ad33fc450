//! The Lambda@Edge event (`Records[0].cf`) as edge-proxy models it, and conversion to and from
//! the AWS JSON shape, so `edge-proxy invoke` and the tests run AWS's sample events unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::headers::HeaderList;

/// The four trigger points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Every viewer request, before the cache.
    ViewerRequest,
    /// Requests going to the origin (cache misses).
    OriginRequest,
    /// The origin's response, before it is cached.
    OriginResponse,
    /// Every response to the viewer.
    ViewerResponse,
}

impl EventType {
    /// All four, in pipeline order.
    pub const ALL: [EventType; 4] = [
        EventType::ViewerRequest,
        EventType::OriginRequest,
        EventType::OriginResponse,
        EventType::ViewerResponse,
    ];

    /// The name CloudFront uses (`viewer-request`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ViewerRequest => "viewer-request",
            EventType::OriginRequest => "origin-request",
            EventType::OriginResponse => "origin-response",
            EventType::ViewerResponse => "viewer-response",
        }
    }

    /// Parses a CloudFront event type name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Viewer triggers have the tighter limits (40 KB, 5 s).
    pub fn is_viewer(self) -> bool {
        matches!(self, EventType::ViewerRequest | EventType::ViewerResponse)
    }

    /// Request triggers may return a request or generate a response.
    pub fn is_request(self) -> bool {
        matches!(self, EventType::ViewerRequest | EventType::OriginRequest)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Records[0].cf.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfConfig {
    /// Domain name viewers use.
    pub distribution_domain_name: String,
    /// Distribution id.
    pub distribution_id: String,
    /// Which trigger this is.
    pub event_type: EventType,
    /// The request id (`x-edge-request-id`).
    pub request_id: String,
}

/// `request.body` with include-body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfBody {
    /// The body was cut at the trigger's limit.
    pub input_truncated: bool,
    /// Whether a hook's changes replace the body.
    pub action: BodyAction,
    /// Encoding of `data`.
    pub encoding: BodyEncoding,
    /// The body.
    pub data: String,
}

/// `body.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyAction {
    /// Changes are ignored (the default).
    ReadOnly,
    /// The body sent on is replaced.
    Replace,
}

/// `body.encoding` / `bodyEncoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// Base64 (always, for bodies CloudFront exposes).
    Base64,
    /// Plain text.
    Text,
}

/// `request.origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfOrigin {
    /// An origin configured in edge-proxy, by name (edge-proxy's addition).
    Named(String),
    /// A custom origin by domain, port and protocol (`origin.custom`; an `origin.s3` is read as a
    /// custom HTTPS origin on its domain).
    Custom(CustomOrigin),
}

/// `origin.custom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOrigin {
    /// Host name.
    pub domain_name: String,
    /// Port.
    pub port: u16,
    /// `http` or `https`.
    pub protocol: String,
    /// Prefix for the uri (`""` or starting with `/`).
    pub path: String,
    /// Seconds.
    pub read_timeout: u32,
    /// Seconds.
    pub keepalive_timeout: u32,
    /// Headers added for this origin.
    pub custom_headers: HeaderList,
}

/// `Records[0].cf.request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfRequest {
    /// Viewer IP.
    pub client_ip: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub uri: String,
    /// Raw query string without `?`.
    pub querystring: String,
    /// Headers.
    pub headers: HeaderList,
    /// Body, with include-body.
    pub body: Option<CfBody>,
    /// Origin, in origin events.
    pub origin: Option<CfOrigin>,
}

/// `Records[0].cf.response`, or a generated / updated response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub status_description: String,
    /// Headers.
    pub headers: HeaderList,
    /// A body set by the hook (never the origin's: CloudFront does not expose it).
    pub body: Option<String>,
    /// Encoding of `body`.
    pub body_encoding: BodyEncoding,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfEvent {
    /// Config.
    pub config: CfConfig,
    /// Request.
    pub request: CfRequest,
    /// Response (response events).
    pub response: Option<CfResponse>,
}

/// What a hook returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutcome {
    /// Continue with this request.
    Request(CfRequest),
    /// Answer with (or continue with) this response.
    Response(CfResponse),
}

/// Why AWS-shaped JSON could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError(msg.into()))
}

// ---- AWS JSON shapes -------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct AwsEvent {
    #[serde(rename = "Records")]
    records: Vec<AwsRecord>,
}

#[derive(Serialize, Deserialize)]
struct AwsRecord {
    cf: AwsCf,
}

#[derive(Serialize, Deserialize)]
struct AwsCf {
    config: AwsConfig,
    request: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AwsConfig {
    #[serde(default)]
    distribution_domain_name: String,
    #[serde(default)]
    distribution_id: String,
    event_type: String,
    #[serde(default)]
    request_id: String,
}

fn headers_from_json(v: Option<&Value>, what: &str) -> Result<HeaderList, JsonError> {
    let mut list = HeaderList::new();
    let Some(v) = v else { return Ok(list) };
    let Some(map) = v.as_object() else {
        return err(format!("{what}: headers must be an object"));
    };
    for (name, lines) in map {
        let Some(lines) = lines.as_array() else {
            return err(format!(
                "{what}: headers.{name} must be an array of {{key, value}}"
            ));
        };
        for line in lines {
            let key = line.get("key").and_then(Value::as_str).unwrap_or("");
            let Some(value) = line.get("value").and_then(Value::as_str) else {
                return err(format!(
                    "{what}: headers.{name}: each entry needs a string \"value\""
                ));
            };
            list.append(name, key, value);
        }
    }
    Ok(list)
}

fn headers_to_json(list: &HeaderList) -> Value {
    let mut map = Map::new();
    for line in list.iter() {
        let entry = map
            .entry(line.name.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(serde_json::json!({"key": line.key, "value": line.value}));
        }
    }
    Value::Object(map)
}

fn str_field<'a>(v: &'a Value, name: &str, what: &str) -> Result<&'a str, JsonError> {
    match v.get(name) {
        Some(Value::String(s)) => Ok(s),
        _ => err(format!("{what}: \"{name}\" must be a string")),
    }
}

fn opt_str(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn body_from_json(v: &Value) -> Result<CfBody, JsonError> {
    let action = match v.get("action").and_then(Value::as_str) {
        None | Some("read-only") => BodyAction::ReadOnly,
        Some("replace") => BodyAction::Replace,
        Some(other) => return err(format!("request.body.action: unknown action \"{other}\"")),
    };
    let encoding = match v.get("encoding").and_then(Value::as_str) {
        None | Some("base64") => BodyEncoding::Base64,
        Some("text") => BodyEncoding::Text,
        Some(other) => {
            return err(format!(
                "request.body.encoding: unknown encoding \"{other}\""
            ))
        }
    };
    Ok(CfBody {
        input_truncated: v
            .get("inputTruncated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        action,
        encoding,
        data: opt_str(v, "data"),
    })
}

fn origin_from_json(v: &Value) -> Result<CfOrigin, JsonError> {
    let read =
        |o: &Value, default_protocol: &str, default_port: u16| -> Result<CustomOrigin, JsonError> {
            let protocol = match o.get("protocol").and_then(Value::as_str) {
                Some(p) => p.to_string(),
                None => default_protocol.to_string(),
            };
            let port = match o.get("port") {
                Some(p) => p
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(JsonError(
                        "request.origin: \"port\" must be a port number".into(),
                    ))?,
                None => default_port,
            };
            Ok(CustomOrigin {
                domain_name: str_field(o, "domainName", "request.origin")?.to_string(),
                port,
                protocol,
                path: opt_str(o, "path"),
                read_timeout: seconds(o, "readTimeout", 30),
                keepalive_timeout: seconds(o, "keepaliveTimeout", 5),
                custom_headers: headers_from_json(
                    o.get("customHeaders"),
                    "request.origin.customHeaders",
                )?,
            })
        };
    if let Some(name) = v.get("named").and_then(Value::as_str) {
        return Ok(CfOrigin::Named(name.to_string()));
    }
    if let Some(c) = v.get("custom") {
        return Ok(CfOrigin::Custom(read(c, "https", 443)?));
    }
    if let Some(s) = v.get("s3") {
        return Ok(CfOrigin::Custom(read(s, "https", 443)?));
    }
    err("request.origin: expected \"custom\", \"s3\" or \"named\"")
}

/// A timeout field in seconds; values past `u32` saturate (validation then refuses them)
/// rather than wrap into a small, valid-looking number.
fn seconds(o: &Value, field: &str, default: u32) -> u32 {
    o.get(field)
        .and_then(Value::as_u64)
        .map_or(default, |t| u32::try_from(t).unwrap_or(u32::MAX))
}

fn origin_to_json(o: &CfOrigin) -> Value {
    match o {
        CfOrigin::Named(n) => serde_json::json!({ "named": n }),
        CfOrigin::Custom(c) => serde_json::json!({ "custom": {
            "customHeaders": headers_to_json(&c.custom_headers),
            "domainName": c.domain_name,
            "keepaliveTimeout": c.keepalive_timeout,
            "path": c.path,
            "port": c.port,
            "protocol": c.protocol,
            "readTimeout": c.read_timeout,
            "sslProtocols": ["TLSv1.2"],
        }}),
    }
}

impl CfRequest {
    /// Reads a request object (`Records[0].cf.request`, or a hook's returned request).
    pub fn from_json(v: &Value) -> Result<Self, JsonError> {
        Ok(CfRequest {
            client_ip: opt_str(v, "clientIp"),
            method: opt_str(v, "method"),
            uri: str_field(v, "uri", "request")?.to_string(),
            querystring: opt_str(v, "querystring"),
            headers: headers_from_json(v.get("headers"), "request")?,
            body: v
                .get("body")
                .filter(|b| !b.is_null())
                .map(body_from_json)
                .transpose()?,
            origin: v
                .get("origin")
                .filter(|o| !o.is_null())
                .map(origin_from_json)
                .transpose()?,
        })
    }

    /// The AWS JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("clientIp".into(), self.client_ip.clone().into());
        m.insert("headers".into(), headers_to_json(&self.headers));
        m.insert("method".into(), self.method.clone().into());
        m.insert("querystring".into(), self.querystring.clone().into());
        m.insert("uri".into(), self.uri.clone().into());
        if let Some(b) = &self.body {
            m.insert(
                "body".into(),
                serde_json::json!({
                    "inputTruncated": b.input_truncated,
                    "action": match b.action { BodyAction::ReadOnly => "read-only", BodyAction::Replace => "replace" },
                    "encoding": match b.encoding { BodyEncoding::Base64 => "base64", BodyEncoding::Text => "text" },
                    "data": b.data,
                }),
            );
        }
        if let Some(o) = &self.origin {
            m.insert("origin".into(), origin_to_json(o));
        }
        Value::Object(m)
    }
}

impl CfResponse {
    /// Reads a response object. `status` may be a string (as AWS documents) or a number (as AWS's
    /// own Python examples assign).
    pub fn from_json(v: &Value) -> Result<Self, JsonError> {
        let status = match v.get("status") {
            Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        }
        .ok_or(JsonError(
            "response: \"status\" must be an HTTP status code".into(),
        ))?;
        let body_encoding = match v.get("bodyEncoding").and_then(Value::as_str) {
            None | Some("text") => BodyEncoding::Text,
            Some("base64") => BodyEncoding::Base64,
            Some(other) => return err(format!("response: unknown bodyEncoding \"{other}\"")),
        };
        let body = match v.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return err("response: \"body\" must be a string"),
        };
        Ok(CfResponse {
            status,
            status_description: opt_str(v, "statusDescription"),
            headers: headers_from_json(v.get("headers"), "response")?,
            body,
            body_encoding,
        })
    }

    /// The AWS JSON form (`status` as a string).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("headers".into(), headers_to_json(&self.headers));
        m.insert("status".into(), self.status.to_string().into());
        m.insert(
            "statusDescription".into(),
            self.status_description.clone().into(),
        );
        if let Some(b) = &self.body {
            m.insert("body".into(), b.clone().into());
            if self.body_encoding == BodyEncoding::Base64 {
                m.insert("bodyEncoding".into(), "base64".into());
            }
        }
        Value::Object(m)
    }
}

impl CfEvent {
    /// Reads an AWS Lambda@Edge event (`{"Records":[{"cf":{…}}]}`).
    pub fn from_aws_json(text: &str) -> Result<Self, JsonError> {
        let aws: AwsEvent =
            serde_json::from_str(text).map_err(|e| JsonError(format!("event: {e}")))?;
        let Some(record) = aws.records.into_iter().next() else {
            return err("event: \"Records\" is empty");
        };
        let cf = record.cf;
        let Some(event_type) = EventType::parse(&cf.config.event_type) else {
            return err(format!(
                "event: unknown eventType \"{}\"",
                cf.config.event_type
            ));
        };
        Ok(CfEvent {
            config: CfConfig {
                distribution_domain_name: cf.config.distribution_domain_name,
                distribution_id: cf.config.distribution_id,
                event_type,
                request_id: cf.config.request_id,
            },
            request: CfRequest::from_json(&cf.request)?,
            response: cf
                .response
                .as_ref()
                .map(CfResponse::from_json)
                .transpose()?,
        })
    }

    /// The AWS JSON form.
    pub fn to_aws_json(&self) -> Value {
        let aws = AwsEvent {
            records: vec![AwsRecord {
                cf: AwsCf {
                    config: AwsConfig {
                        distribution_domain_name: self.config.distribution_domain_name.clone(),
                        distribution_id: self.config.distribution_id.clone(),
                        event_type: self.config.event_type.as_str().to_string(),
                        request_id: self.config.request_id.clone(),
                    },
                    request: self.request.to_json(),
                    response: self.response.as_ref().map(CfResponse::to_json),
                },
            }],
        };
        serde_json::to_value(aws).expect("event serializes")
    }
}

impl HookOutcome {
    /// Reads what a Lambda@Edge function returns: a response if it has `status`, else a request.
    pub fn from_json(v: &Value) -> Result<Self, JsonError> {
        if v.get("status").is_some() {
            CfResponse::from_json(v).map(HookOutcome::Response)
        } else {
            CfRequest::from_json(v).map(HookOutcome::Request)
        }
    }

    /// The AWS JSON form of the result.
    pub fn to_json(&self) -> Value {
        match self {
            HookOutcome::Request(r) => r.to_json(),
            HookOutcome::Response(r) => r.to_json(),
        }
    }
}
