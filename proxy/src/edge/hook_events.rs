//! Between Pingora's request/response headers and the hook event model: building events from
//! what is on the wire, and putting a hook's changes back on the wire.

use base64::Engine as _;
use bytes::Bytes;
use pingora::http::{HeaderNameVariant, RequestHeader, ResponseHeader};

use crate::events::{BodyEncoding, CfResponse, HeaderList};
use crate::hooks::limits;

/// A header map from Pingora headers, keeping the names' case as received when Pingora kept it.
fn header_list(
    map: impl FnOnce(&mut dyn FnMut(HeaderNameVariant, &http::HeaderValue)) -> pingora::Result<()>,
) -> HeaderList {
    let mut list = HeaderList::new();
    let _ = map(&mut |name, value| {
        let key = match name {
            HeaderNameVariant::Case(c) => String::from_utf8_lossy(c.as_slice()).into_owned(),
            HeaderNameVariant::Titled(t) => t.to_string(),
        };
        list.append(&key, &key, &String::from_utf8_lossy(value.as_bytes()));
    });
    list
}

/// The request's headers as a hook sees them.
pub fn request_headers(req: &RequestHeader) -> HeaderList {
    header_list(|f| {
        req.map(|n, v| {
            f(n, v);
            Ok(())
        })
    })
}

/// The response's headers as a hook sees them.
pub fn response_headers(resp: &ResponseHeader) -> HeaderList {
    header_list(|f| {
        resp.map(|n, v| {
            f(n, v);
            Ok(())
        })
    })
}

/// Replaces the request's headers with `list`, keeping the lines hooks never see (disallowed
/// headers such as `Connection` or `Upgrade`) as they were.
pub fn apply_request_headers(req: &mut RequestHeader, list: &HeaderList) -> pingora::Result<()> {
    let names: Vec<http::HeaderName> = req.headers.keys().cloned().collect();
    for name in names {
        if !limits::is_disallowed(name.as_str()) {
            req.remove_header(&name);
        }
    }
    for line in list.iter() {
        req.append_header(line.key.clone(), line.value.as_str())?;
    }
    Ok(())
}

/// Replaces the response's headers with `list`, keeping hidden (disallowed) lines.
pub fn apply_response_headers(resp: &mut ResponseHeader, list: &HeaderList) -> pingora::Result<()> {
    let names: Vec<http::HeaderName> = resp.headers.keys().cloned().collect();
    for name in names {
        if !limits::is_disallowed(name.as_str()) {
            resp.remove_header(&name);
        }
    }
    for line in list.iter() {
        resp.append_header(line.key.clone(), line.value.as_str())?;
    }
    Ok(())
}

/// Sets uri and query string (both already validated).
pub fn apply_uri(req: &mut RequestHeader, uri: &str, querystring: &str) -> pingora::Result<()> {
    let target = if querystring.is_empty() {
        uri.to_string()
    } else {
        format!("{uri}?{querystring}")
    };
    let parsed = target.parse::<http::Uri>().map_err(|e| {
        pingora::Error::because(
            pingora::ErrorType::InvalidHTTPHeader,
            "uri set by a hook",
            e,
        )
    })?;
    req.set_uri(parsed);
    Ok(())
}

/// The decoded body of a hook's response, if it set one.
pub fn response_body(resp: &CfResponse) -> Option<Bytes> {
    let body = resp.body.as_ref()?;
    Some(match resp.body_encoding {
        BodyEncoding::Text => Bytes::from(body.clone()),
        // Validation already checked the base64.
        BodyEncoding::Base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap_or_default(),
        ),
    })
}

/// A generated response as a Pingora header (with `Content-Length` for `body_len`).
pub fn generated_header(resp: &CfResponse, body_len: usize) -> pingora::Result<ResponseHeader> {
    let mut header = ResponseHeader::build(resp.status, Some(resp.headers.len() + 2))?;
    if !resp.status_description.is_empty() {
        header.set_reason_phrase(Some(&resp.status_description))?;
    }
    for line in resp.headers.iter() {
        if !matches!(line.name.as_str(), "content-length" | "transfer-encoding") {
            header.append_header(line.key.clone(), line.value.as_str())?;
        }
    }
    header.insert_header("content-length", body_len.to_string())?;
    Ok(header)
}
