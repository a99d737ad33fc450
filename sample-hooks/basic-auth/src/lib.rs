//! viewer-request: HTTP Basic authentication in front of a behavior.

use base64::Engine as _;
use edge_hooks::{Event, Outcome, Response};

/// Lets the request through when `Authorization: Basic` carries `BASIC_AUTH_USER` and
/// `BASIC_AUTH_PASSWORD`; otherwise answers 401 with a `WWW-Authenticate` challenge.
pub fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    let user = std::env::var("BASIC_AUTH_USER").map_err(|_| "BASIC_AUTH_USER is not set")?;
    let password =
        std::env::var("BASIC_AUTH_PASSWORD").map_err(|_| "BASIC_AUTH_PASSWORD is not set")?;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    if event.request.headers.first("authorization").as_deref() == Some(expected.as_str()) {
        return Ok(event.request.into());
    }
    let realm = std::env::var("BASIC_AUTH_REALM").unwrap_or_else(|_| "edge-proxy".into());
    Ok(Response::new(401)
        .with_header(
            "www-authenticate",
            &format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
        )
        .with_header("content-type", "text/plain")
        .with_body("Unauthorized\n")
        .into())
}

edge_hooks::export_hook!(handler);
