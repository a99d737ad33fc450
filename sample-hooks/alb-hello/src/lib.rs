//! An ALB target function: echoes the request as JSON with two cookies, and serves a PNG.

use edge_hooks::alb::{AlbRequest, AlbResponse};

/// A 1×1 transparent PNG.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// `…/pixel.png` serves [`PIXEL`]; `…/echo-body` returns the request body as sent; everything
/// else gets the echo.
pub fn handler(request: AlbRequest) -> Result<AlbResponse, edge_hooks::Error> {
    if request.path.ends_with("/echo-body") {
        let content_type = request
            .header("content-type")
            .unwrap_or("application/octet-stream")
            .to_string();
        return Ok(AlbResponse::new(200)
            .with_header("content-type", &content_type)
            .with_body(request.body));
    }
    if request.path.ends_with("/pixel.png") {
        return Ok(AlbResponse::new(200)
            .with_header("content-type", "image/png")
            .with_body(PIXEL));
    }
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(k, v)| serde_json::json!([k, v]))
            .collect::<Vec<_>>()
    };
    let echo = serde_json::json!({
        "method": request.method,
        "path": request.path,
        "query": pairs(&request.query),
        "headers": pairs(&request.headers),
        "body": String::from_utf8_lossy(&request.body),
        "bodyLength": request.body.len(),
        "multiValue": request.multi_value,
    });
    Ok(AlbResponse::new(200)
        .with_header("content-type", "application/json")
        .with_header("set-cookie", "session=abc123; Path=/; HttpOnly")
        .with_header("set-cookie", "theme=dark; Path=/")
        .with_body(serde_json::to_vec_pretty(&echo)?))
}

edge_hooks::export_alb_function!(handler);
