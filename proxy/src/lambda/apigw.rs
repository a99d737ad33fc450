//! The same HTTP ⇄ Lambda translation with API Gateway's field names and rules: payload 1.0
//! (REST and HTTP APIs) and 2.0 (HTTP APIs, function URLs), from the API Gateway developer
//! guide's "Lambda proxy integrations" pages.

use std::borrow::Cow;

use base64::Engine as _;
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::http_parts::{body_field, query_pairs, HttpRequestParts, HttpResponseParts, Untyped};

fn decoded(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .map(Cow::into_owned)
        .unwrap_or_else(|_| s.to_string())
}

fn lower_headers(req: &HttpRequestParts) -> Vec<(String, String)> {
    req.headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

/// The first value of header `name` (lowercase), whatever case the names are in.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn now() -> (String, u128) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    (date, since.as_millis())
}

/// Payload format 1.0 (a REST API's proxy integration): both single- and multi-value maps,
/// query values decoded, header names as the client sent them (a REST API does not lowercase
/// them; HTTP APIs and payload 2.0 do). As in AWS's sample event, the single-value map keeps the
/// last header and the first query value.
pub fn v1_event(req: &HttpRequestParts, request_id: &str) -> Result<Value, String> {
    let headers = &req.headers;
    let query: Vec<(String, String)> = query_pairs(&req.query)
        .into_iter()
        .map(|(k, v)| (decoded(&k), decoded(&v)))
        .collect();
    let (body, is_base64) = body_field(req, Untyped::Text)?;
    let mut single_headers = Map::new();
    let mut multi_headers = Map::new();
    for (k, v) in headers {
        single_headers.insert(k.clone(), v.clone().into());
        push(&mut multi_headers, k, v);
    }
    let mut single_query = Map::new();
    let mut multi_query = Map::new();
    for (k, v) in &query {
        single_query
            .entry(k.clone())
            .or_insert_with(|| v.clone().into());
        push(&mut multi_query, k, v);
    }
    let (time, epoch) = now();
    let host = header(headers, "host").unwrap_or("localhost").to_string();
    Ok(json!({
        "resource": req.path,
        "path": req.path,
        "httpMethod": req.method,
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { single_query.into() },
        "multiValueQueryStringParameters": if query.is_empty() { Value::Null } else { multi_query.into() },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "edge-proxy",
            "domainName": host,
            "extendedRequestId": request_id,
            "httpMethod": req.method,
            "identity": {
                "sourceIp": req.client_ip.clone().unwrap_or_default(),
                "userAgent": header(headers, "user-agent").unwrap_or(""),
            },
            "path": req.path,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time,
            "requestTimeEpoch": epoch,
            "resourcePath": req.path,
            "stage": "$default",
        },
        "pathParameters": Value::Null,
        "stageVariables": Value::Null,
        "body": body,
        "isBase64Encoded": is_base64,
    }))
}

/// Payload format 2.0: `rawPath`, `rawQueryString`, cookies split out, repeated headers and
/// query values comma-joined.
pub fn v2_event(req: &HttpRequestParts, request_id: &str) -> Result<Value, String> {
    let headers = lower_headers(req);
    let mut joined = Map::new();
    let mut cookies = Vec::new();
    for (k, v) in &headers {
        if k == "cookie" {
            cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.into())),
            );
            continue;
        }
        join(&mut joined, k, v);
    }
    let mut query = Map::new();
    for (k, v) in query_pairs(&req.query) {
        join(&mut query, &decoded(&k), &decoded(&v));
    }
    let (body, is_base64) = body_field(req, Untyped::Text)?;
    let (time, epoch) = now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": joined,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "edge-proxy",
            "domainName": header(&headers, "host").unwrap_or("localhost"),
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.client_ip.clone().unwrap_or_default(),
                "userAgent": header(&headers, "user-agent").unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time,
            "timeEpoch": epoch,
        },
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body);
    }
    Ok(event)
}

fn push(map: &mut Map<String, Value>, k: &str, v: &str) {
    if let Value::Array(a) = map
        .entry(k.to_string())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        a.push(v.into());
    }
}

fn join(map: &mut Map<String, Value>, k: &str, v: &str) {
    match map.get_mut(k) {
        Some(Value::String(s)) => {
            s.push(',');
            s.push_str(v);
        }
        _ => {
            map.insert(k.to_string(), v.into());
        }
    }
}

fn status_of(obj: &Map<String, Value>) -> Option<u16> {
    match obj.get("statusCode")? {
        Value::Number(n) => n
            .as_u64()
            .filter(|s| (100..=599).contains(s))
            .map(|s| s as u16),
        Value::String(s) => s.parse::<u16>().ok().filter(|s| (100..=599).contains(s)),
        _ => None,
    }
}

fn decode_body(obj: &Map<String, Value>) -> Result<Bytes, String> {
    let b64 = obj
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match obj.get("body") {
        None | Some(Value::Null) => Ok(Bytes::new()),
        Some(Value::String(s)) if b64 => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Bytes::from)
            .map_err(|_| "\"body\" is not valid base64".to_string()),
        Some(Value::String(s)) => Ok(Bytes::from(s.clone())),
        Some(_) => Err("\"body\" is not a string".into()),
    }
}

fn string_map(obj: &Map<String, Value>, field: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Some(h) = obj.get(field).filter(|v| !v.is_null()) {
        let h = h
            .as_object()
            .ok_or(format!("\"{field}\" is not an object"))?;
        for (k, v) in h {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("{field}.{k} is not a string")),
            };
            out.push((k.clone(), v));
        }
    }
    Ok(out)
}

/// Payload 1.0 result: `headers` and `multiValueHeaders` merged (multi-value wins for a name in
/// both); a result without a valid `statusCode` is malformed.
pub fn v1_response(v: &Value) -> Result<HttpResponseParts, String> {
    let obj = v.as_object().ok_or("result is not a JSON object")?;
    let status = status_of(obj).ok_or("result has no valid \"statusCode\"")?;
    let mut headers = Vec::new();
    let multi = obj.get("multiValueHeaders").and_then(Value::as_object);
    for (k, v) in string_map(obj, "headers")? {
        if !multi.is_some_and(|m| m.keys().any(|mk| mk.eq_ignore_ascii_case(&k))) {
            headers.push((k, v));
        }
    }
    for (k, vals) in multi.into_iter().flatten() {
        for val in vals
            .as_array()
            .ok_or(format!("multiValueHeaders.{k} is not an array"))?
        {
            let val = val
                .as_str()
                .ok_or(format!("multiValueHeaders.{k} has a non-string value"))?;
            headers.push((k.clone(), val.to_string()));
        }
    }
    Ok(HttpResponseParts {
        status,
        reason: None,
        headers,
        body: decode_body(obj)?,
    })
}

/// Payload 2.0 result: `cookies` become `Set-Cookie` lines; a valid JSON result without
/// `statusCode` is a 200 `application/json` response whose body is that JSON.
pub fn v2_response(v: &Value) -> Result<HttpResponseParts, String> {
    let Some(obj) = v.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Ok(HttpResponseParts {
            status: 200,
            reason: None,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(v.to_string()),
        });
    };
    let status = status_of(obj).ok_or("result has no valid \"statusCode\"")?;
    let mut headers = string_map(obj, "headers")?;
    for cookie in obj
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cookie = cookie
            .as_str()
            .ok_or("\"cookies\" has a non-string value")?;
        headers.push(("set-cookie".into(), cookie.into()));
    }
    Ok(HttpResponseParts {
        status,
        reason: None,
        headers,
        body: decode_body(obj)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_request() -> HttpRequestParts {
        let h = |k: &str, v: &str| (k.to_string(), v.to_string());
        HttpRequestParts {
            method: "GET".into(),
            path: "/my/path".into(),
            query: "parameter1=value1&parameter1=value2&parameter2=value".into(),
            headers: vec![
                h("header1", "value1"),
                h("header2", "value1"),
                h("header2", "value2"),
            ],
            body: Bytes::from_static(b"Hello from Lambda!"),
            client_ip: Some("192.0.2.1".into()),
            port: 443,
            proto: "https",
        }
    }

    fn compare(event: &Value, sample: &Value, fields: &[&str]) {
        for f in fields {
            assert_eq!(event[*f], sample[*f], "{f}");
        }
    }

    #[test]
    fn v1_matches_aws_sample_field_by_field() {
        let sample: Value =
            serde_json::from_str(include_str!("../../../tests/vectors/apigw-v1.json")).unwrap();
        let event = v1_event(&sample_request(), "id").unwrap();
        compare(
            &event,
            &sample,
            &[
                "path",
                "httpMethod",
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
                "pathParameters",
                "stageVariables",
                "body",
                "isBase64Encoded",
            ],
        );
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "192.0.2.1");
    }

    #[test]
    fn v2_matches_aws_sample_field_by_field() {
        let sample: Value =
            serde_json::from_str(include_str!("../../../tests/vectors/apigw-v2.json")).unwrap();
        let mut req = sample_request();
        req.method = "POST".into();
        req.headers
            .push(("Cookie".into(), "cookie1; cookie2".into()));
        req.headers[2].1 = "value2".into();
        req.body = Bytes::from_static(b"Hello from Lambda");
        let event = v2_event(&req, "id").unwrap();
        compare(
            &event,
            &sample,
            &[
                "version",
                "routeKey",
                "rawPath",
                "rawQueryString",
                "cookies",
                "headers",
                "queryStringParameters",
                "body",
                "isBase64Encoded",
            ],
        );
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["requestContext"]["http"]["sourceIp"], "192.0.2.1");
    }

    #[test]
    fn v1_keeps_header_case_as_a_rest_api_does_and_v2_lowercases() {
        let mut req = sample_request();
        req.headers = vec![
            ("X-Custom".into(), "a".into()),
            ("Host".into(), "example.com".into()),
            ("User-Agent".into(), "curl".into()),
        ];
        let v1 = v1_event(&req, "id").unwrap();
        assert_eq!(v1["headers"]["X-Custom"], "a");
        assert_eq!(v1["multiValueHeaders"]["X-Custom"], json!(["a"]));
        assert!(v1["headers"].get("x-custom").is_none());
        assert_eq!(v1["requestContext"]["domainName"], "example.com");
        assert_eq!(v1["requestContext"]["identity"]["userAgent"], "curl");
        let v2 = v2_event(&req, "id").unwrap();
        assert_eq!(v2["headers"]["x-custom"], "a");
        assert!(v2["headers"].get("X-Custom").is_none());
    }

    #[test]
    fn results_follow_each_payload_rules() {
        let v1 = v1_response(&json!({"statusCode": 200, "headers": {"a": "1", "b": "x"}, "multiValueHeaders": {"b": ["2", "3"]}, "body": "hi"})).unwrap();
        assert_eq!(
            v1.headers,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("b".into(), "3".into())
            ]
        );
        assert!(v1_response(&json!({"body": "no status"})).is_err());
        let v2 = v2_response(&json!({"statusCode": 201, "cookies": ["a=1", "b=2"], "body": "ok"}))
            .unwrap();
        assert_eq!(
            v2.headers.iter().filter(|(k, _)| k == "set-cookie").count(),
            2
        );
        let bare = v2_response(&json!({"hello": "world"})).unwrap();
        assert_eq!(bare.status, 200);
        assert_eq!(bare.body, Bytes::from(r#"{"hello":"world"}"#));
    }
}
