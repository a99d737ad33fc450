//! Lambda's HTTP payloads: HTTP to and from the JSON a function target speaks — the ALB's
//! target event (`alb.rs`) or API Gateway's proxy integration events (`apigw.rs`) — chosen by
//! the target group (`target_group.rs`) over the request and response parts they all share
//! (`http_parts.rs`). Every result reaches the wire through [`response_from_result`]'s one check.

mod alb;
mod apigw;
mod http_parts;
mod target_group;

use serde_json::Value;

pub use http_parts::{HttpRequestParts, HttpResponseParts};
pub use target_group::{
    Payload, TargetGroupSettings, MAX_REQUEST_BODY, MAX_RESPONSE_HEADER, MAX_RESULT,
};

/// Builds the event for `req` in the target group's payload format.
pub fn request_event(
    req: &HttpRequestParts,
    settings: &TargetGroupSettings,
    request_id: &str,
) -> Result<Value, String> {
    match settings.payload {
        Payload::Alb => alb::event(req, settings),
        Payload::ApiGatewayV1 => apigw::v1_event(req, request_id),
        Payload::ApiGatewayV2 => apigw::v2_event(req, request_id),
    }
}

/// Reads a Lambda result in the target group's payload format, as the ALB (or API Gateway)
/// does. Every `Err` is a malformed result (502).
pub fn response_from_result(
    result: &[u8],
    settings: &TargetGroupSettings,
) -> Result<HttpResponseParts, String> {
    if result.len() > MAX_RESULT {
        return Err(format!(
            "result is {} bytes, over the {MAX_RESULT}-byte limit",
            result.len()
        ));
    }
    let v: Value =
        serde_json::from_slice(result).map_err(|e| format!("result is not JSON: {e}"))?;
    let parts = match settings.payload {
        Payload::Alb => alb::response(&v, settings)?,
        Payload::ApiGatewayV1 => apigw::v1_response(&v)?,
        Payload::ApiGatewayV2 => apigw::v2_response(&v)?,
    };
    for_the_wire(parts)
}

/// The result as it may go on the wire: hop-by-hop and framing headers dropped (the ALB
/// ignores them and computes `Content-Length` itself); a status outside 200–599, a reason
/// phrase or header that would not be a valid HTTP/1.1 line is a malformed result.
fn for_the_wire(mut r: HttpResponseParts) -> Result<HttpResponseParts, String> {
    edge_event::wire::status(r.status).map_err(|e| e.to_string())?;
    if let Some(reason) = &r.reason {
        edge_event::wire::reason(reason).map_err(|e| e.to_string())?;
    }
    r.headers
        .retain(|(k, _)| !edge_event::wire::is_proxy_owned(&k.to_ascii_lowercase()));
    let mut head_bytes = 0;
    for (name, value) in &r.headers {
        edge_event::wire::header_name(name).map_err(|e| e.to_string())?;
        edge_event::wire::header_value(name, value).map_err(|e| e.to_string())?;
        head_bytes += name.len() + 2 + value.len() + 2;
    }
    if head_bytes > MAX_RESPONSE_HEADER {
        return Err(format!(
            "response headers are {head_bytes} bytes, over the ALB's {MAX_RESPONSE_HEADER}-byte limit"
        ));
    }
    Ok(r)
}
