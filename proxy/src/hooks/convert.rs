//! Between the event model ([`crate::events`]) and the contract's types: header maps become
//! `headers` resources in the store, everything else is copied by value.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types as wit;
use super::headers::HeaderSlot;
use super::state::HookState;
use crate::events::{
    BodyAction, BodyEncoding, CfBody, CfEvent, CfOrigin, CfRequest, CfResponse, CustomOrigin,
    EventType, HeaderList, HookOutcome,
};

fn put_headers(state: &mut HookState, list: HeaderList) -> wasmtime::Result<Resource<HeaderSlot>> {
    let index = state.header_maps.len();
    state.header_maps.push(list);
    Ok(state.table.push(HeaderSlot {
        generation: state.generation,
        index,
    })?)
}

/// Takes back the header map behind a `headers` handle the guest returned.
fn take_headers(state: &mut HookState, handle: Resource<HeaderSlot>) -> Result<HeaderList, String> {
    let slot = state
        .table
        .delete(handle)
        .map_err(|e| format!("bad headers handle: {e}"))?;
    if slot.generation != state.generation {
        return Err("returned headers belong to an earlier invocation".into());
    }
    state
        .header_maps
        .get_mut(slot.index)
        .map(std::mem::take)
        .ok_or_else(|| "unknown headers handle".to_string())
}

fn event_type(e: EventType) -> wit::EventType {
    match e {
        EventType::ViewerRequest => wit::EventType::ViewerRequest,
        EventType::OriginRequest => wit::EventType::OriginRequest,
        EventType::OriginResponse => wit::EventType::OriginResponse,
        EventType::ViewerResponse => wit::EventType::ViewerResponse,
    }
}

fn body_to_wit(b: &CfBody) -> wit::Body {
    wit::Body {
        input_truncated: b.input_truncated,
        action: match b.action {
            BodyAction::ReadOnly => wit::BodyAction::ReadOnly,
            BodyAction::Replace => wit::BodyAction::Replace,
        },
        encoding: encoding_to_wit(b.encoding),
        data: b.data.clone(),
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

/// Builds the contract's event, moving the header maps into `state`.
pub fn event_to_wit(state: &mut HookState, event: &CfEvent) -> wasmtime::Result<wit::Event> {
    let request = wit::Request {
        client_ip: event.request.client_ip.clone(),
        method: event.request.method.clone(),
        uri: event.request.uri.clone(),
        querystring: event.request.querystring.clone(),
        headers: put_headers(state, event.request.headers.clone())?,
        body: event.request.body.as_ref().map(body_to_wit),
        origin: event.request.origin.as_ref().map(origin_to_wit),
    };
    let response = match &event.response {
        Some(r) => Some(wit::Response {
            status: r.status,
            status_description: r.status_description.clone(),
            headers: put_headers(state, r.headers.clone())?,
        }),
        None => None,
    };
    Ok(wit::Event {
        config: wit::Config {
            distribution_domain_name: event.config.distribution_domain_name.clone(),
            distribution_id: event.config.distribution_id.clone(),
            event_type: event_type(event.config.event_type),
            request_id: event.config.request_id.clone(),
        },
        request,
        response,
    })
}

/// Reads the guest's outcome back into the event model.
pub fn outcome_from_wit(
    state: &mut HookState,
    event: &CfEvent,
    outcome: wit::Outcome,
) -> Result<HookOutcome, String> {
    Ok(match outcome {
        wit::Outcome::Request(u) => HookOutcome::Request(CfRequest {
            client_ip: event.request.client_ip.clone(),
            method: event.request.method.clone(),
            uri: u.uri,
            querystring: u.querystring,
            headers: take_headers(state, u.headers)?,
            body: u.body.map(body_from_wit),
            origin: u.origin.map(origin_from_wit),
        }),
        wit::Outcome::Response(u) => {
            let status_description = u.status_description.unwrap_or_else(|| {
                http::StatusCode::from_u16(u.status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
                    .to_string()
            });
            HookOutcome::Response(CfResponse {
                status: u.status,
                status_description,
                headers: take_headers(state, u.headers)?,
                body: u.body,
                body_encoding: encoding_from_wit(u.body_encoding),
            })
        }
    })
}
