//! origin-request: chooses the origin per request.

use edge_hooks::{Event, Origin, Outcome};

/// An `x-origin` request header naming a configured origin wins; otherwise the first prefix of
/// `ORIGIN_BY_PATH` (`/api/=api,/static/=site`) the uri starts with; otherwise the behavior's.
pub fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    let mut request = event.request;
    let by_header = request.headers.first("x-origin");
    let by_path = std::env::var("ORIGIN_BY_PATH").ok().and_then(|map| {
        let uri = request.uri();
        map.split(',')
            .filter_map(|pair| pair.split_once('='))
            .find(|(prefix, _)| uri.starts_with(prefix.trim()))
            .map(|(_, origin)| origin.trim().to_string())
    });
    if let Some(origin) = by_header.or(by_path) {
        request.set_origin(Origin::Named(origin));
    }
    Ok(request.into())
}

edge_hooks::export_hook!(handler);
