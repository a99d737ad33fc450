//! origin-response: a default Cache-Control for origins that send none.

use edge_hooks::{Event, Outcome};

/// Sets `Cache-Control` to `CACHE_CONTROL` (default `public, max-age=3600`) on successful
/// responses without one; responses that have one are left alone.
pub fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    let mut response = event
        .response
        .ok_or("cache-control runs at origin-response")?;
    if response.status() < 400 && !response.headers.contains("cache-control") {
        let value =
            std::env::var("CACHE_CONTROL").unwrap_or_else(|_| "public, max-age=3600".into());
        response.headers.set("cache-control", &value);
    }
    Ok(response.into())
}

edge_hooks::export_hook!(handler);
