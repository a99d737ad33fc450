//! ALB Lambda targets in Rust: the request an ALB sends a function and the response it expects,
//! with the JSON handled for you (`export_alb_function!`).

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The HTTP request, from the ALB event.
#[derive(Debug, Clone, Default)]
pub struct AlbRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query parameters in order, values as sent (not percent-decoded, as the ALB sends them).
    pub query: Vec<(String, String)>,
    /// Headers (lowercase names), in order.
    pub headers: Vec<(String, String)>,
    /// The body, base64 already decoded.
    pub body: Vec<u8>,
    /// Whether the target group sends multi-value headers (the response then uses them too).
    pub multi_value: bool,
    /// `requestContext.elb.targetGroupArn`.
    pub target_group_arn: String,
}

/// The HTTP response to give the ALB.
#[derive(Debug, Clone, Default)]
pub struct AlbResponse {
    /// Status code.
    pub status: u16,
    /// Headers, one entry per header line (two `Set-Cookie` stay two in multi-value mode).
    pub headers: Vec<(String, String)>,
    /// Body bytes; sent base64-encoded unless they are UTF-8 text.
    pub body: Vec<u8>,
}

impl AlbResponse {
    /// A response with `status` and no headers or body.
    pub fn new(status: u16) -> Self {
        AlbResponse {
            status,
            ..Default::default()
        }
    }

    /// Adds a header line (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, val) in v.and_then(Value::as_object).into_iter().flatten() {
        match val {
            Value::Array(a) => out.extend(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| (k.clone(), s.to_string())),
            ),
            Value::String(s) => out.push((k.clone(), s.clone())),
            _ => {}
        }
    }
    out
}

impl AlbRequest {
    /// Reads an ALB event (as AWS documents it, single- or multi-value).
    pub fn from_json(v: &Value) -> Result<Self, crate::error::Error> {
        let multi_value = v.get("multiValueHeaders").is_some();
        let body = v.get("body").and_then(Value::as_str).unwrap_or("");
        let body = if v
            .get("isBase64Encoded")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            base64::engine::general_purpose::STANDARD.decode(body)?
        } else {
            body.as_bytes().to_vec()
        };
        Ok(AlbRequest {
            method: v
                .get("httpMethod")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            path: v
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            query: pairs(v.get(if multi_value {
                "multiValueQueryStringParameters"
            } else {
                "queryStringParameters"
            })),
            headers: pairs(v.get(if multi_value {
                "multiValueHeaders"
            } else {
                "headers"
            })),
            body,
            multi_value,
            target_group_arn: v
                .pointer("/requestContext/elb/targetGroupArn")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl AlbResponse {
    /// The result JSON, in the mode the request came in.
    pub fn to_json(&self, multi_value: bool) -> Value {
        let (body, b64) = match std::str::from_utf8(&self.body) {
            Ok(s) => (s.to_string(), false),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(&self.body),
                true,
            ),
        };
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            if multi_value {
                if let Value::Array(a) = headers
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    a.push(v.clone().into());
                }
            } else {
                headers.insert(k.clone(), v.clone().into());
            }
        }
        let reason = match self.status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            301 => "Moved Permanently",
            302 => "Found",
            304 => "Not Modified",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "",
        };
        json!({
            "statusCode": self.status,
            "statusDescription": format!("{} {reason}", self.status).trim_end(),
            (if multi_value { "multiValueHeaders" } else { "headers" }): headers,
            "body": body,
            "isBase64Encoded": b64,
        })
    }
}

/// Runs `handler` on the event JSON and returns the result JSON.
pub fn invoke(
    event: Vec<u8>,
    handler: fn(AlbRequest) -> Result<AlbResponse, crate::error::Error>,
) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(&event).map_err(|e| e.to_string())?;
    let request = AlbRequest::from_json(&v).map_err(|e| e.to_string())?;
    let multi = request.multi_value;
    let response = handler(request).map_err(|e| e.to_string())?;
    serde_json::to_vec(&response.to_json(multi)).map_err(|e| e.to_string())
}
