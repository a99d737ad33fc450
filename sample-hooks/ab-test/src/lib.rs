//! viewer-request + viewer-response: sticky A/B testing with a cookie.
//!
//! At viewer-request, a viewer without an `ab` cookie is assigned a group from the request id;
//! the uri gets the group as prefix (`/landing.html` → `/b/landing.html`). At viewer-response the
//! same function sets the cookie so the viewer stays in its group.

use edge_hooks::{Event, EventType, Outcome};

fn group_of(event: &Event) -> String {
    let cookies = event.request.headers.get("cookie");
    let from_cookie = cookies
        .iter()
        .flat_map(|c| c.value.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "ab")
        .map(|(_, v)| v.to_string())
        .filter(|v| v == "a" || v == "b");
    from_cookie.unwrap_or_else(|| {
        let hash = event
            .config
            .request_id()
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        if hash % 2 == 0 { "a" } else { "b" }.to_string()
    })
}

fn has_cookie(event: &Event) -> bool {
    event
        .request
        .headers
        .get("cookie")
        .iter()
        .any(|c| c.value.split(';').any(|kv| kv.trim().starts_with("ab=")))
}

/// Rewrites the uri to the viewer's group, and makes the group stick.
pub fn handler(mut event: Event) -> Result<Outcome, edge_hooks::Error> {
    let group = group_of(&event);
    match event.config.event_type {
        EventType::ViewerRequest => {
            let uri = format!("/{group}{}", event.request.uri());
            event.request.set_uri(&uri);
            Ok(event.request.into())
        }
        EventType::ViewerResponse => {
            let sticky = has_cookie(&event);
            let mut response = event.response.ok_or("no response")?;
            if !sticky {
                response.headers.append(
                    "set-cookie",
                    &format!("ab={group}; Path=/; Max-Age=2592000"),
                );
            }
            response.headers.set("x-ab-group", &group);
            Ok(response.into())
        }
        other => Err(format!("ab-test does not run at {other:?}").into()),
    }
}

edge_hooks::export_hook!(handler);
