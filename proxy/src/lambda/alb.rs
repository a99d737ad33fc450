//! HTTP ⇄ the JSON an Application Load Balancer exchanges with a Lambda target, following the
//! ELB guide ("Lambda functions as targets"): the request event, and which results are
//! malformed (the ALB answers those with 502).

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::http_parts::{body_field, query_pairs, HttpRequestParts, HttpResponseParts, Untyped};
use super::target_group::TargetGroupSettings;

/// Collapses pairs into `{name: last value}` or `{name: [values…]}`.
fn to_map(pairs: &[(String, String)], multi: bool) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if multi {
            if let Value::Array(a) = m
                .entry(k.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                a.push(Value::String(v.clone()));
            }
        } else {
            m.insert(k.clone(), Value::String(v.clone()));
        }
    }
    Value::Object(m)
}

/// A fresh `X-Amzn-Trace-Id` root, in AWS's format (`Root=1-<epoch hex>-<24 hex>`).
fn trace_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{secs:08x}-{}", &random[..24])
}

/// Builds the ALB event for `req`. Header names are lowercased; the ALB's forwarding headers
/// are added; in single-value mode the last of repeated headers or query keys wins.
pub fn event(req: &HttpRequestParts, settings: &TargetGroupSettings) -> Result<Value, String> {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "x-forwarded-for" | "x-forwarded-port" | "x-forwarded-proto"
            )
        })
        .collect();
    let prior_xff = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let xff = match (&req.client_ip, prior_xff.is_empty()) {
        (Some(ip), true) => ip.clone(),
        (Some(ip), false) => format!("{prior_xff}, {ip}"),
        (None, _) => prior_xff,
    };
    if !xff.is_empty() {
        headers.push(("x-forwarded-for".into(), xff));
    }
    headers.push(("x-forwarded-port".into(), req.port.to_string()));
    headers.push(("x-forwarded-proto".into(), req.proto.into()));
    if !headers.iter().any(|(k, _)| k == "x-amzn-trace-id") {
        headers.push(("x-amzn-trace-id".into(), trace_id()));
    }

    let (body, is_base64) = body_field(req, Untyped::Base64)?;

    let multi = settings.multi_value_headers;
    let query = query_pairs(&req.query);
    let mut event = json!({
        "requestContext": { "elb": { "targetGroupArn": settings.target_group_arn } },
        "httpMethod": req.method,
        "path": req.path,
        "isBase64Encoded": is_base64,
        "body": body,
    });
    let (h, q) = if multi {
        ("multiValueHeaders", "multiValueQueryStringParameters")
    } else {
        ("headers", "queryStringParameters")
    };
    event[h] = to_map(&headers, multi);
    event[q] = to_map(&query, multi);
    Ok(event)
}

/// Reads an ALB-format result (`statusCode`, `statusDescription`, `headers` or
/// `multiValueHeaders`, `body`, `isBase64Encoded`) as the ALB does. Every `Err` is a malformed
/// result (502).
pub fn response(v: &Value, settings: &TargetGroupSettings) -> Result<HttpResponseParts, String> {
    let Some(obj) = v.as_object() else {
        return Err("result is not a JSON object".into());
    };
    let status = match obj.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64().filter(|s| (100..=599).contains(s)),
        Some(Value::String(s)) => s.parse::<u64>().ok().filter(|s| (100..=599).contains(s)),
        _ => None,
    }
    .ok_or("result has no valid \"statusCode\"")? as u16;
    for field in [
        "statusDescription",
        "headers",
        "multiValueHeaders",
        "body",
        "isBase64Encoded",
    ] {
        if obj.get(field).is_some_and(Value::is_null) {
            return Err(format!("result field \"{field}\" is null"));
        }
    }
    let reason = match obj.get("statusDescription") {
        None => None,
        Some(Value::String(s)) => {
            let text = s.trim();
            let text = text
                .strip_prefix(&status.to_string())
                .unwrap_or(text)
                .trim();
            (!text.is_empty()).then(|| text.to_string())
        }
        Some(_) => return Err("\"statusDescription\" is not a string".into()),
    };
    let mut headers = Vec::new();
    if settings.multi_value_headers {
        if let Some(mv) = obj.get("multiValueHeaders") {
            let Some(mv) = mv.as_object() else {
                return Err("\"multiValueHeaders\" is not an object".into());
            };
            for (name, values) in mv {
                let Some(values) = values.as_array() else {
                    return Err(format!("multiValueHeaders.{name} is not an array"));
                };
                for value in values {
                    let Some(value) = value.as_str() else {
                        return Err(format!("multiValueHeaders.{name} has a non-string value"));
                    };
                    headers.push((name.clone(), value.to_string()));
                }
            }
        } else if obj.contains_key("headers") {
            return Err(
                "multi-value headers are enabled: the result must use \"multiValueHeaders\"".into(),
            );
        }
    } else if let Some(h) = obj.get("headers") {
        let Some(h) = h.as_object() else {
            return Err("\"headers\" is not an object".into());
        };
        for (name, value) in h {
            let Some(value) = value.as_str() else {
                return Err(format!("header \"{name}\" has a non-string value"));
            };
            headers.push((name.clone(), value.to_string()));
        }
    }

    let is_base64 = match obj.get("isBase64Encoded") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"isBase64Encoded\" is not a boolean".into()),
    };
    let body = match obj.get("body") {
        None => Bytes::new(),
        Some(Value::String(s)) if is_base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| "\"body\" is not valid base64".to_string())?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err("\"body\" is not a string".into()),
    };
    Ok(HttpResponseParts {
        status,
        reason,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::{request_event, response_from_result, Payload};

    fn settings(multi: bool) -> TargetGroupSettings {
        TargetGroupSettings {
            target_group_arn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a".into(),
            multi_value_headers: multi,
            payload: Payload::Alb,
        }
    }

    /// The request behind AWS's documented sample event (`alb-request-lambda-docs.json`).
    fn doc_request() -> HttpRequestParts {
        let h = |k: &str, v: &str| (k.to_string(), v.to_string());
        HttpRequestParts {
            method: "GET".into(),
            path: "/lambda".into(),
            query: "query=1234ABCD".into(),
            headers: vec![
                h("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8"),
                h("Accept-Encoding", "gzip"),
                h("Accept-Language", "en-US,en;q=0.9"),
                h("Connection", "keep-alive"),
                h("Host", "lambda-alb-123578498.us-east-2.elb.amazonaws.com"),
                h("Upgrade-Insecure-Requests", "1"),
                h("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/71.0.3578.98 Safari/537.36"),
                h("X-Amzn-Trace-Id", "Root=1-5c536348-3d683b8b04734faae651f476"),
                h("X-Imforwards", "20"),
            ],
            body: Bytes::new(),
            client_ip: Some("72.12.164.125".into()),
            port: 80,
            proto: "http",
        }
    }

    #[test]
    fn documented_sample_event_is_reproduced_field_by_field() {
        let expected: Value = serde_json::from_str(include_str!(
            "../../../tests/vectors/alb-request-lambda-docs.json"
        ))
        .unwrap();
        let event = request_event(&doc_request(), &settings(false), "id").unwrap();
        for field in [
            "requestContext",
            "httpMethod",
            "path",
            "queryStringParameters",
            "headers",
            "body",
            "isBase64Encoded",
        ] {
            assert_eq!(event[field], expected[field], "{field}");
        }
        assert!(event.get("multiValueHeaders").is_none());
    }

    #[test]
    fn repeated_values_last_wins_or_all_in_order() {
        let mut req = doc_request();
        req.query = "k=1&k=2&enc=%3FshowAll%3Dtrue&flag".into();
        req.headers.push(("Cookie".into(), "a=1".into()));
        req.headers.push(("cookie".into(), "b=2".into()));
        let single = request_event(&req, &settings(false), "id").unwrap();
        assert_eq!(single["queryStringParameters"]["k"], "2");
        assert_eq!(single["queryStringParameters"]["enc"], "%3FshowAll%3Dtrue");
        assert_eq!(single["queryStringParameters"]["flag"], "");
        assert_eq!(single["headers"]["cookie"], "b=2");
        let multi = request_event(&req, &settings(true), "id").unwrap();
        assert_eq!(
            multi["multiValueQueryStringParameters"]["k"],
            json!(["1", "2"])
        );
        assert_eq!(multi["multiValueHeaders"]["cookie"], json!(["a=1", "b=2"]));
        assert!(multi.get("headers").is_none());
    }

    #[test]
    fn body_encoding_follows_the_content_type_rule() {
        let mut req = doc_request();
        req.body = Bytes::from_static(b"{\"a\":1}");
        req.headers.push((
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        ));
        assert_eq!(
            request_event(&req, &settings(false), "id").unwrap()["isBase64Encoded"],
            false
        );
        req.headers.push(("Content-Encoding".into(), "gzip".into()));
        let e = request_event(&req, &settings(false), "id").unwrap();
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "eyJhIjoxfQ==");
        let mut bin = doc_request();
        bin.body = Bytes::from_static(&[0, 159, 146, 150]);
        bin.headers
            .push(("Content-Type".into(), "image/png".into()));
        assert_eq!(
            request_event(&bin, &settings(false), "id").unwrap()["isBase64Encoded"],
            true
        );
        // No Content-Type is not a text type: base64, whatever the bytes (never a 400).
        let mut untyped = doc_request();
        untyped.body = Bytes::from_static(&[0, 159, 146, 150]);
        let e = request_event(&untyped, &settings(false), "id").unwrap();
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AJ+Slg==");
    }

    #[test]
    fn documented_sample_result_becomes_a_response() {
        let r = response_from_result(
            include_bytes!("../../../tests/vectors/alb-response-lambda-docs.json"),
            &settings(false),
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason.as_deref(), Some("OK"));
        assert_eq!(
            r.headers,
            vec![("Content-Type".to_string(), "text/html".to_string())]
        );
        assert_eq!(r.body, Bytes::from_static(b"<h1>Hello from Lambda!</h1>"));
    }

    #[test]
    fn malformed_results_are_refused() {
        let s = settings(false);
        for bad in [
            &b"not json"[..],
            br#"[1]"#,
            br#"{"body": "x"}"#,
            br#"{"statusCode": 200, "body": null}"#,
            br#"{"statusCode": 200, "headers": null}"#,
            br#"{"statusCode": 200, "headers": {"x": true}}"#,
            br#"{"statusCode": 200, "isBase64Encoded": true, "body": "%%%"}"#,
        ] {
            assert!(
                response_from_result(bad, &s).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(response_from_result(br#"{"statusCode": 204}"#, &s).is_ok());
    }

    #[test]
    fn multi_value_results_keep_every_line_and_drop_hop_by_hop() {
        let r = response_from_result(
            br#"{"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "Transfer-Encoding": ["chunked"]}, "isBase64Encoded": true, "body": "AAEC"}"#,
            &settings(true),
        )
        .unwrap();
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.body, Bytes::from_static(&[0, 1, 2]));
    }
}
