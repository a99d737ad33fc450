//! viewer-response: adds the security headers every site should send.

use edge_hooks::{Event, Outcome};

/// Sets HSTS, nosniff, frame denial, a referrer policy and, when `CSP` is set, a
/// Content-Security-Policy, replacing whatever the origin sent.
pub fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    let mut response = event
        .response
        .ok_or("security-headers runs at viewer-response")?;
    let h = &mut response.headers;
    h.set(
        "strict-transport-security",
        "max-age=63072000; includeSubDomains; preload",
    );
    h.set("x-content-type-options", "nosniff");
    h.set("x-frame-options", "DENY");
    h.set("referrer-policy", "strict-origin-when-cross-origin");
    if let Ok(csp) = std::env::var("CSP") {
        h.set("content-security-policy", &csp);
    }
    Ok(response.into())
}

edge_hooks::export_hook!(handler);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_headers_to_the_aws_sample_response() {
        let event = Event::from_aws_json(include_str!(
            "../../../tests/vectors/cf-viewer-response.json"
        ))
        .unwrap();
        let out = handler(event).unwrap().to_aws_json();
        assert_eq!(out["headers"]["x-frame-options"][0]["value"], "DENY");
        assert_eq!(
            out["headers"]["strict-transport-security"][0]["key"],
            "Strict-Transport-Security"
        );
        assert_eq!(out["status"], "200");
    }
}
