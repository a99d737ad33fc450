//! The AWS JSON form of the Lambda@Edge event (`{"Records":[{"cf":{…}}]}`) and of a function's
//! result: the one reader and writer, used by the proxy (`edge-proxy invoke`, tests, fuzzing)
//! and by the SDK's native tests, so an event the proxy refuses is refused there too.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::headers::HeaderList;
use crate::model::{
    BodyAction, BodyEncoding, CfBody, CfConfig, CfEvent, CfOrigin, CfRequest, CfResponse,
    CustomOrigin, EventType, HookOutcome, S3Origin,
};

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
                ssl_protocols: match o.get("sslProtocols") {
                    None => vec!["TLSv1.2".into()],
                    Some(list) => list
                        .as_array()
                        .and_then(|l| {
                            l.iter()
                                .map(|p| p.as_str().map(str::to_string))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or(JsonError(
                            "request.origin.custom: \"sslProtocols\" must be a list of strings"
                                .into(),
                        ))?,
                },
            })
        };
    if let Some(name) = v.get("named").and_then(Value::as_str) {
        return Ok(CfOrigin::Named(name.to_string()));
    }
    if let Some(c) = v.get("custom") {
        return Ok(CfOrigin::Custom(read(c, "https", 443)?));
    }
    if let Some(s) = v.get("s3") {
        return Ok(CfOrigin::S3(S3Origin {
            auth_method: match s.get("authMethod").and_then(Value::as_str) {
                Some(m) => m.to_string(),
                None => "none".into(),
            },
            custom_headers: headers_from_json(
                s.get("customHeaders"),
                "request.origin.s3.customHeaders",
            )?,
            domain_name: str_field(s, "domainName", "request.origin.s3")?.to_string(),
            path: opt_str(s, "path"),
            region: opt_str(s, "region"),
        }));
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
            "sslProtocols": c.ssl_protocols,
        }}),
        CfOrigin::S3(s) => serde_json::json!({ "s3": {
            "authMethod": s.auth_method,
            "customHeaders": headers_to_json(&s.custom_headers),
            "domainName": s.domain_name,
            "path": s.path,
            "region": s.region,
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
                distribution_domain_name: cf.config.distribution_domain_name.into(),
                distribution_id: cf.config.distribution_id.into(),
                event_type,
                request_id: cf.config.request_id.into(),
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
                        distribution_domain_name: self.config.distribution_domain_name.to_string(),
                        distribution_id: self.config.distribution_id.to_string(),
                        event_type: self.config.event_type.as_str().to_string(),
                        request_id: self.config.request_id.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of AWS's sample events survives reading and writing: a function ported from
    /// AWS gets back what it sent (an `origin.s3`, the `sslProtocols` it listed).
    #[test]
    fn aws_samples_round_trip_field_for_field() {
        for name in [
            "cf-viewer-request",
            "cf-origin-request",
            "cf-origin-response",
            "cf-viewer-response",
        ] {
            let path = format!(
                "{}/../tests/vectors/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let sample: Value = serde_json::from_str(&text).unwrap();
            let event = CfEvent::from_aws_json(&text).unwrap();
            assert_eq!(event.to_aws_json(), sample, "{name}");
        }
        let s3 = serde_json::json!({"s3": {
            "authMethod": "origin-access-identity",
            "customHeaders": {"x-bucket": [{"key": "X-Bucket", "value": "a"}]},
            "domainName": "bucket.s3.eu-west-1.amazonaws.com",
            "path": "/site",
            "region": "eu-west-1",
        }});
        let origin = origin_from_json(&s3).unwrap();
        assert!(matches!(&origin, CfOrigin::S3(o) if o.region == "eu-west-1"));
        assert_eq!(origin_to_json(&origin), s3);
    }
}
