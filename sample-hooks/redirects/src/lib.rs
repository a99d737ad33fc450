//! viewer-request: 301 redirects to canonical URLs, plus a redirect map from the environment.

use edge_hooks::{Event, Outcome, Response};

/// `/index.html` → `/` (and `/docs/index.html` → `/docs/`); paths listed in `REDIRECTS`
/// (`/old=/new,/a=https://example.com/b`) → their target. The query string is kept.
pub fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    let uri = event.request.uri();
    let uri = uri.as_str();
    let mapped = std::env::var("REDIRECTS").ok().and_then(|map| {
        map.split(',')
            .filter_map(|pair| pair.split_once('='))
            .find(|(from, _)| from.trim() == uri)
            .map(|(_, to)| to.trim().to_string())
    });
    let target = mapped.or_else(|| {
        uri.strip_suffix("index.html")
            .filter(|p| p.ends_with('/'))
            .map(str::to_string)
    });
    let Some(mut target) = target else {
        return Ok(event.request.into());
    };
    let querystring = event.request.querystring();
    if !querystring.is_empty() {
        target = format!("{target}?{querystring}");
    }
    Ok(Response::new(301).with_header("location", &target).into())
}

edge_hooks::export_hook!(handler);
