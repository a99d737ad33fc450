//! Between the event model ([`edge_event`]) and the contract's types: header maps become
//! `headers` resources in the store, everything else is lent to the call by value.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types as wit;
use super::headers::{HeaderSlot, HostHeaderMap};
use super::state::HookState;
use edge_event::{
    limits, BodyAction, BodyEncoding, CfBody, CfEvent, CfOrigin, CfRequest, CfResponse,
    CustomOrigin, EventType, HeaderEdits, HeaderList, HookOutcome,
};

/// Index of the event's request headers among the invocation's header maps.
const REQUEST_MAP: usize = 0;
/// Index of the event's response headers (response events).
const RESPONSE_MAP: usize = 1;

fn put_headers(state: &mut HookState, list: HeaderList) -> wasmtime::Result<Resource<HeaderSlot>> {
    let index = state.header_maps.len();
    state.header_maps.push(HostHeaderMap::new(list));
    Ok(state.table.push(HeaderSlot {
        generation: state.generation,
        index,
    })?)
}

/// Takes back the header map behind a `headers` handle the guest returned, with what changed
/// against the event's map at `original` (if the event had one for this part).
fn take_headers(
    state: &mut HookState,
    handle: Resource<HeaderSlot>,
    original: Option<usize>,
) -> Result<(HeaderList, HeaderEdits), String> {
    let slot = state
        .table
        .delete(handle)
        .map_err(|e| format!("bad headers handle: {e}"))?;
    if slot.generation != state.generation {
        return Err("returned headers belong to an earlier invocation".into());
    }
    let returned = state
        .header_maps
        .get_mut(slot.index)
        .map(std::mem::take)
        .ok_or_else(|| "unknown headers handle".to_string())?;
    if original == Some(slot.index) {
        return Ok((
            returned.list,
            HeaderEdits {
                changed: Some(returned.changed),
                read_only_before: returned.read_only_before,
            },
        ));
    }
    // Another map: compare every read-only header with the event's map as it was.
    let read_only_before = match original.and_then(|i| state.header_maps.get(i)) {
        Some(map) => state
            .read_only
            .iter()
            .map(|name| (name.to_string(), map.original(name)))
            .collect(),
        None => Vec::new(),
    };
    Ok((
        returned.list,
        HeaderEdits {
            changed: None,
            read_only_before,
        },
    ))
}

fn event_type(e: EventType) -> wit::EventType {
    match e {
        EventType::ViewerRequest => wit::EventType::ViewerRequest,
        EventType::OriginRequest => wit::EventType::OriginRequest,
        EventType::OriginResponse => wit::EventType::OriginResponse,
        EventType::ViewerResponse => wit::EventType::ViewerResponse,
    }
}

fn body_to_wit(b: CfBody) -> wit::Body {
    wit::Body {
        input_truncated: b.input_truncated,
        action: match b.action {
            BodyAction::ReadOnly => wit::BodyAction::ReadOnly,
            BodyAction::Replace => wit::BodyAction::Replace,
        },
        encoding: encoding_to_wit(b.encoding),
        data: b.data,
    }
}

fn body_from_wit(b: wit::Body) -> CfBody {
    CfBody {
        input_truncated: b.input_truncated,
        action: match b.action {
            wit::BodyAction::ReadOnly => BodyAction::ReadOnly,
            wit::BodyAction::Replace => BodyAction::Replace,
        },
        encoding: encoding_from_wit(b.encoding),
        data: b.data,
    }
}

fn encoding_to_wit(e: BodyEncoding) -> wit::BodyEncoding {
    match e {
        BodyEncoding::Base64 => wit::BodyEncoding::Base64,
        BodyEncoding::Text => wit::BodyEncoding::Text,
    }
}

fn encoding_from_wit(e: wit::BodyEncoding) -> BodyEncoding {
    match e {
        wit::BodyEncoding::Base64 => BodyEncoding::Base64,
        wit::BodyEncoding::Text => BodyEncoding::Text,
    }
}

fn origin_to_wit(o: &CfOrigin) -> wit::Origin {
    match o {
        CfOrigin::Named(n) => wit::Origin::Named(n.clone()),
        CfOrigin::Custom(c) => wit::Origin::Custom(wit::CustomOrigin {
            domain_name: c.domain_name.clone(),
            port: c.port,
            protocol: c.protocol.clone(),
            path: c.path.clone(),
            read_timeout: c.read_timeout,
            keepalive_timeout: c.keepalive_timeout,
            custom_headers: c
                .custom_headers
                .iter()
                .map(|l| wit::Header {
                    key: l.key.clone(),
                    value: l.value.clone(),
                })
                .collect(),
        }),
    }
}

fn origin_from_wit(o: wit::Origin) -> CfOrigin {
    match o {
        wit::Origin::Named(n) => CfOrigin::Named(n),
        wit::Origin::Custom(c) => {
            let mut custom_headers = HeaderList::new();
            for h in c.custom_headers {
                custom_headers.append(&h.key, &h.key, &h.value);
            }
            CfOrigin::Custom(CustomOrigin {
                domain_name: c.domain_name,
                port: c.port,
                protocol: c.protocol,
                path: c.path,
                read_timeout: c.read_timeout,
                keepalive_timeout: c.keepalive_timeout,
                custom_headers,
            })
        }
    }
}

/// Builds the contract's event, moving the event's header maps into `state` (the guest edits
/// them there; [`outcome_from_wit`] takes them back) and lending it the event's strings and
/// body (moved, not copied: they are copied once, into the guest; [`return_lent`] gives them
/// back after the call).
pub fn event_to_wit(state: &mut HookState, event: &mut CfEvent) -> wasmtime::Result<wit::Event> {
    state.read_only = limits::read_only(event.config.event_type);
    debug_assert!(
        state.header_maps.is_empty(),
        "maps are cleared per invocation"
    );
    let request_headers = put_headers(state, std::mem::take(&mut event.request.headers))?;
    let take = std::mem::take::<String>;
    let request = wit::Request {
        client_ip: take(&mut event.request.client_ip),
        method: take(&mut event.request.method),
        uri: take(&mut event.request.uri),
        querystring: take(&mut event.request.querystring),
        headers: request_headers,
        body: event.request.body.take().map(body_to_wit),
        origin: event.request.origin.as_ref().map(origin_to_wit),
    };
    let response = match &mut event.response {
        Some(r) => Some(wit::Response {
            status: r.status,
            status_description: take(&mut r.status_description),
            headers: put_headers(state, std::mem::take(&mut r.headers))?,
        }),
        None => None,
    };
    Ok(wit::Event {
        config: wit::Config {
            distribution_domain_name: take(&mut event.config.distribution_domain_name),
            distribution_id: take(&mut event.config.distribution_id),
            event_type: event_type(event.config.event_type),
            request_id: take(&mut event.config.request_id),
        },
        request,
        response,
    })
}

/// Gives `event` back what [`event_to_wit`] lent the contract's event (its header maps stay
/// in the store until [`outcome_from_wit`]).
pub fn return_lent(event: &mut CfEvent, lent: wit::Event) {
    let wit::Event {
        config,
        request,
        response,
    } = lent;
    event.config.distribution_domain_name = config.distribution_domain_name;
    event.config.distribution_id = config.distribution_id;
    event.config.request_id = config.request_id;
    event.request.client_ip = request.client_ip;
    event.request.method = request.method;
    event.request.uri = request.uri;
    event.request.querystring = request.querystring;
    event.request.body = request.body.map(body_from_wit);
    if let (Some(r), Some(lent)) = (&mut event.response, response) {
        r.status_description = lent.status_description;
    }
}

/// Reads the guest's outcome back into the event model, with what it changed in the headers.
pub fn outcome_from_wit(
    state: &mut HookState,
    event: &CfEvent,
    outcome: wit::Outcome,
) -> Result<(HookOutcome, HeaderEdits), String> {
    Ok(match outcome {
        wit::Outcome::Request(u) => {
            let (headers, edits) = take_headers(state, u.headers, Some(REQUEST_MAP))?;
            let request = CfRequest {
                // Read-only: `validate` puts the event's back.
                client_ip: String::new(),
                method: String::new(),
                uri: u.uri,
                querystring: u.querystring,
                headers,
                body: u.body.map(body_from_wit),
                origin: u.origin.map(origin_from_wit),
            };
            (HookOutcome::Request(request), edits)
        }
        wit::Outcome::Response(u) => {
            let status_description = u.status_description.unwrap_or_else(|| {
                http::StatusCode::from_u16(u.status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
                    .to_string()
            });
            let original = event.response.as_ref().map(|_| RESPONSE_MAP);
            let (headers, edits) = take_headers(state, u.headers, original)?;
            let response = CfResponse {
                status: u.status,
                status_description,
                headers,
                body: u.body,
                body_encoding: encoding_from_wit(u.body_encoding),
            };
            (HookOutcome::Response(response), edits)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strings and body lent to the call come back unchanged, so what runs after the call
    /// (validation, the `REPORT` line) sees the event as the proxy built it.
    #[test]
    fn lent_fields_come_back() {
        for json in [
            include_str!("../../../tests/vectors/cf-origin-request.json"),
            include_str!("../../../tests/vectors/cf-viewer-response.json"),
        ] {
            let mut event = CfEvent::from_aws_json(json).unwrap();
            event.request.body = Some(CfBody {
                input_truncated: true,
                action: BodyAction::Replace,
                encoding: BodyEncoding::Text,
                data: "body".into(),
            });
            let built = event.clone();
            let mut state = HookState::new(&[], 1 << 20);
            let lent = event_to_wit(&mut state, &mut event).unwrap();
            assert_eq!(lent.request.uri, built.request.uri);
            assert!(event.request.uri.is_empty(), "moved, not copied");
            return_lent(&mut event, lent);
            assert_eq!(event.config, built.config);
            assert_eq!(
                (
                    &event.request.client_ip,
                    &event.request.method,
                    &event.request.uri,
                    &event.request.querystring,
                    &event.request.body,
                ),
                (
                    &built.request.client_ip,
                    &built.request.method,
                    &built.request.uri,
                    &built.request.querystring,
                    &built.request.body,
                )
            );
            assert_eq!(
                event.response.map(|r| r.status_description),
                built.response.map(|r| r.status_description)
            );
        }
    }
}
