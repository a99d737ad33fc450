//! AWS JSON for native unit tests: read AWS's sample events, inspect what a handler returned in
//! the shape a Lambda@Edge function would return it.

use serde_json::{json, Map, Value};

use crate::event::{
    Body, BodyAction, BodyEncoding, Config, Event, EventType, Origin, Outcome, Request, Response,
};
use crate::headers::{Header, Headers};

fn headers_from(v: Option<&Value>) -> Headers {
    let mut h = Headers::local();
    if let Some(map) = v.and_then(Value::as_object) {
        for (name, lines) in map {
            let lines: Vec<Header> = lines
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| Header {
                    key: l
                        .get("key")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    value: l
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                })
                .collect();
            let mut existing = h.get(name);
            existing.extend(lines);
            h.set_all(name, existing);
        }
    }
    h
}

fn headers_to(h: &Headers) -> Value {
    let mut map = Map::new();
    for (name, line) in h.entries() {
        if let Value::Array(a) = map.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
            a.push(json!({"key": line.key, "value": line.value}));
        }
    }
    Value::Object(map)
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn request_from(v: &Value) -> Request {
    Request {
        client_ip: s(v, "clientIp"),
        method: s(v, "method"),
        uri: s(v, "uri"),
        querystring: s(v, "querystring"),
        headers: headers_from(v.get("headers")),
        body: v.get("body").filter(|b| b.is_object()).map(|b| Body {
            input_truncated: b
                .get("inputTruncated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            action: if s(b, "action") == "replace" {
                BodyAction::Replace
            } else {
                BodyAction::ReadOnly
            },
            encoding: if s(b, "encoding") == "text" {
                BodyEncoding::Text
            } else {
                BodyEncoding::Base64
            },
            data: s(b, "data"),
        }),
        origin: v.get("origin").and_then(|o| {
            if let Some(n) = o.get("named").and_then(Value::as_str) {
                return Some(Origin::Named(n.to_string()));
            }
            let c = o.get("custom").or_else(|| o.get("s3"))?;
            Some(Origin::Custom(crate::event::CustomOrigin {
                domain_name: s(c, "domainName"),
                port: c.get("port").and_then(Value::as_u64).unwrap_or(443) as u16,
                protocol: Some(s(c, "protocol"))
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "https".into()),
                path: s(c, "path"),
                read_timeout: c.get("readTimeout").and_then(Value::as_u64).unwrap_or(30) as u32,
                keepalive_timeout: c
                    .get("keepaliveTimeout")
                    .and_then(Value::as_u64)
                    .unwrap_or(5) as u32,
                custom_headers: headers_from(c.get("customHeaders"))
                    .entries()
                    .into_iter()
                    .map(|(_, h)| h)
                    .collect(),
            }))
        }),
    }
}

impl Event {
    /// Reads an AWS Lambda@Edge event (`{"Records":[{"cf":{…}}]}`), e.g. one of AWS's samples.
    pub fn from_aws_json(text: &str) -> Result<Event, crate::Error> {
        let v: Value = serde_json::from_str(text)?;
        let cf = v
            .pointer("/Records/0/cf")
            .ok_or("not a Lambda@Edge event: no Records[0].cf")?;
        let config = cf.get("config").ok_or("event has no config")?;
        let event_type = match s(config, "eventType").as_str() {
            "viewer-request" => EventType::ViewerRequest,
            "origin-request" => EventType::OriginRequest,
            "origin-response" => EventType::OriginResponse,
            "viewer-response" => EventType::ViewerResponse,
            other => return Err(format!("unknown eventType \"{other}\"").into()),
        };
        let response = cf.get("response").map(|r| Response {
            status: match r.get("status") {
                Some(Value::String(st)) => st.parse().unwrap_or(0),
                Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as u16,
                _ => 0,
            },
            status_description: s(r, "statusDescription"),
            headers: headers_from(r.get("headers")),
            body: None,
            body_encoding: BodyEncoding::Text,
        });
        Ok(Event {
            config: Config {
                distribution_domain_name: s(config, "distributionDomainName"),
                distribution_id: s(config, "distributionId"),
                event_type,
                request_id: s(config, "requestId"),
            },
            request: request_from(cf.get("request").ok_or("event has no request")?),
            response,
        })
    }
}

impl Outcome {
    /// What a Lambda@Edge function would return, as AWS JSON.
    pub fn to_aws_json(&self) -> Value {
        match self {
            Outcome::Request(r) => {
                let mut m = Map::new();
                m.insert("clientIp".into(), r.client_ip.clone().into());
                m.insert("headers".into(), headers_to(&r.headers));
                m.insert("method".into(), r.method.clone().into());
                m.insert("querystring".into(), r.querystring.clone().into());
                m.insert("uri".into(), r.uri.clone().into());
                if let Some(Origin::Named(n)) = &r.origin {
                    m.insert("origin".into(), json!({ "named": n }));
                }
                if let Some(Origin::Custom(c)) = &r.origin {
                    m.insert(
                        "origin".into(),
                        json!({ "custom": { "domainName": c.domain_name, "port": c.port, "protocol": c.protocol, "path": c.path } }),
                    );
                }
                Value::Object(m)
            }
            Outcome::Response(r) => {
                let mut m = Map::new();
                m.insert("status".into(), r.status.to_string().into());
                m.insert(
                    "statusDescription".into(),
                    r.status_description.clone().into(),
                );
                m.insert("headers".into(), headers_to(&r.headers));
                if let Some(b) = &r.body {
                    m.insert("body".into(), b.clone().into());
                    if r.body_encoding == BodyEncoding::Base64 {
                        m.insert("bodyEncoding".into(), "base64".into());
                    }
                }
                Value::Object(m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEWER_REQUEST: &str = include_str!("../../tests/vectors/cf-viewer-request.json");

    #[test]
    fn aws_sample_event_reads_with_original_case_keys() {
        let e = Event::from_aws_json(VIEWER_REQUEST).unwrap();
        assert_eq!(e.config.event_type, EventType::ViewerRequest);
        assert_eq!(e.request.uri, "/");
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
}
