//! Between the event model ([`edge_event`]) and the contract: an invocation's event moves into
//! the store whole (its header maps into the store's maps), the guest gets handles and reads or
//! changes one field at a time, and the outcome is built from the event and what changed.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types as wit;
use super::invocation::{
    GivenBack, HostHeaderMap, HostResponseData, RequestChanges, EVENT_RESPONSE, REQUEST_MAP,
    RESPONSE_MAP,
};
use super::lent::{Lent, LentFields, RequestField};
use super::slots::{HeaderSlot, RequestSlot, ResponseSlot, LENT};
use super::state::HookState;
use super::validated::Validated;
use edge_event::{
    limits, wire, BodyAction, BodyEncoding, CfBody, CfEvent, CfOrigin, CfRequest, CfResponse,
    CustomOrigin, EventType, HeaderEdits, HeaderList, HookOutcome, S3Origin,
};

/// What `handle` is called with: the trigger, and the event's request and (response events)
/// response, lent for the call.
pub struct HandleArgs {
    pub event_type: wit::EventType,
    pub request: Resource<RequestSlot>,
    pub response: Option<Resource<ResponseSlot>>,
}

/// Moves `event` into `state` for one invocation and returns what the guest is called with.
/// What `lent` holds stands for the event's own field: a header map for its list, the origin
/// shown for `request.origin`.
#[inline(always)]
pub fn begin(state: &mut HookState, mut event: Box<CfEvent>, lent: Lent) -> HandleArgs {
    debug_assert!(state.header_maps.is_empty(), "cleared per invocation");
    let et = event.config.event_type;
    state.read_only = limits::read_only(et);
    // A call that may be abandoned gives the event's lists back as they came.
    let may_run_again = state.speculate_until.is_some();
    let map = |lent: Option<_>, list: &mut HeaderList| match lent {
        Some(lent) => HostHeaderMap::lent(lent),
        None if may_run_again => HostHeaderMap::kept_original(std::mem::take(list)),
        None => HostHeaderMap::new(std::mem::take(list)),
    };
    state.lent = LentFields {
        request_line: lent.request.clone(),
        origin: lent.origin,
        client_ip: lent.client_ip,
    };
    state
        .header_maps
        .push(map(lent.request, &mut event.request.headers));
    let response = match &mut event.response {
        Some(r) => {
            state.header_maps.push(map(lent.response, &mut r.headers));
            debug_assert_eq!(state.responses.len(), EVENT_RESPONSE);
            state.responses.push(HostResponseData {
                status: r.status,
                status_description: std::mem::take(&mut r.status_description),
                headers: RESPONSE_MAP,
                body: None,
                body_encoding: BodyEncoding::Text,
            });
            Some(Resource::new_borrow(LENT))
        }
        None => None,
    };
    state.event = Some(event);
    HandleArgs {
        event_type: event_type(et),
        request: Resource::new_borrow(LENT),
        response,
    }
}

/// Ends the invocation: takes the event back out of `state` and forgets its maps, responses
/// and changes (handles the guest kept are refused from now on).
#[inline(always)]
pub fn end(state: &mut HookState) -> Option<Box<CfEvent>> {
    state.header_maps.clear();
    state.responses.clear();
    state.changes = Default::default();
    state.lent = LentFields::default();
    state.event_description = None;
    state.generation += 1;
    state.event.take()
}

/// Ends an invocation whose call was abandoned (it outgrew the synchronous path) and gives back
/// what [`begin`] was given, as it was, for the call to run again: the event and what was lent
/// (edits are dropped: kept beside a lent map, made on a copy of an event's list).
pub fn abandon(state: &mut HookState) -> Option<(Box<CfEvent>, Lent)> {
    let description = state.event_description.take();
    let mut maps = std::mem::take(&mut state.header_maps).into_iter();
    let request_map = maps.next();
    let response_map = maps.next();
    let mut lent = Lent {
        request: None,
        response: None,
        origin: state.lent.origin.take(),
        client_ip: state.lent.client_ip,
    };
    let shown_description = state
        .responses
        .get_mut(EVENT_RESPONSE)
        .map(|r| std::mem::take(&mut r.status_description));
    let mut event = end(state)?;
    match request_map.map(HostHeaderMap::give_back) {
        Some(GivenBack::Lent(map)) => lent.request = Some(map),
        Some(GivenBack::List(list)) => event.request.headers = list,
        None => {}
    }
    if let Some(r) = &mut event.response {
        match response_map.map(HostHeaderMap::give_back) {
            Some(GivenBack::Lent(map)) => lent.response = Some(map),
            Some(GivenBack::List(list)) => r.headers = list,
            None => {}
        }
        r.status_description = description.or(shown_description).unwrap_or_default();
    }
    Some((event, lent))
}

/// Whether `outcome` goes on with what was lent to the call, changed in nothing an outcome
/// carries: the event's request at a request event (its line and headers lent, no field set,
/// no header edited), or the event's response at a response event (its headers lent; status,
/// description and body as they came; no header edited). The proxy's own request or response
/// is then the outcome: nothing is built from the store, checked, or written back. Anything
/// else, including an outcome validation refuses, goes through [`outcome_from_wit`].
pub fn unchanged(state: &HookState, outcome: &wit::Outcome) -> bool {
    let Some(event) = &state.event else {
        return false;
    };
    let lent_unedited = |index| {
        state
            .header_maps
            .get(index)
            .is_some_and(HostHeaderMap::lent_unedited)
    };
    match outcome {
        wit::Outcome::Request => {
            let RequestChanges {
                uri,
                querystring,
                body,
                origin,
            } = &state.changes;
            event.config.event_type.is_request()
                && state.lent.request_line.is_some()
                && uri.is_none()
                && querystring.is_none()
                && body.is_none()
                && origin.is_none()
                && lent_unedited(REQUEST_MAP)
        }
        wit::Outcome::Response => {
            let (Some(shown), Some(now)) = (&event.response, state.responses.get(EVENT_RESPONSE))
            else {
                return false;
            };
            now.status == shown.status
                // Validation refuses a status outside 200-599 even as it came, and still does.
                && wire::status(now.status).is_ok()
                && state.event_description.is_none()
                && now.body.is_none()
                && lent_unedited(RESPONSE_MAP)
        }
        wit::Outcome::Generated(_) => false,
    }
}

/// Reads the guest's outcome: the event's request or response, as changed, or a response it
/// generated, with what changed in its headers (to be validated).
pub fn outcome_from_wit(
    state: &mut HookState,
    outcome: wit::Outcome,
) -> Result<Box<Validated>, String> {
    let index = match outcome {
        wit::Outcome::Request => return request_outcome(state),
        wit::Outcome::Response => {
            let event = state.event.as_ref().ok_or("no invocation running")?;
            if event.response.is_none() {
                return Err(format!(
                    "a {} event has no response to return: generate one",
                    event.config.event_type
                ));
            }
            EVENT_RESPONSE
        }
        wit::Outcome::Generated(handle) => {
            let slot = state
                .table
                .delete(handle)
                .map_err(|e| format!("bad response handle: {e}"))?;
            if slot.generation != state.generation {
                return Err("returned response belongs to an earlier invocation".into());
            }
            slot.index
        }
    };
    let has_response = state.event.as_ref().is_some_and(|e| e.response.is_some());
    let original = has_response.then_some(RESPONSE_MAP);
    let r = state
        .responses
        .get_mut(index)
        .ok_or("unknown response handle")?;
    let mut status_description = std::mem::take(&mut r.status_description);
    if status_description.is_empty() {
        status_description = http::StatusCode::from_u16(r.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_string();
    }
    let (status, body, body_encoding, map) = (r.status, r.body.take(), r.body_encoding, r.headers);
    let (headers, edits) = take_headers(state, map, original);
    let response = CfResponse {
        status,
        status_description,
        headers,
        body,
        body_encoding,
    };
    Ok(Box::new(Validated {
        outcome: HookOutcome::Response(response),
        header_edits: edits,
        line_kept: false,
    }))
}

/// The event's request as the hook changed it.
fn request_outcome(state: &mut HookState) -> Result<Box<Validated>, String> {
    if state.changes.origin.is_some() {
        // Validation checks a new origin's custom headers against the request's.
        if let Some(map) = state.header_maps.get_mut(REQUEST_MAP) {
            map.lines();
        }
    }
    let (headers, edits) = take_headers(state, REQUEST_MAP, Some(REQUEST_MAP));
    let changes = std::mem::take(&mut state.changes);
    let event = state.event.as_mut().ok_or("no invocation running")?;
    if changes.origin.is_some() && event.request.origin.is_none() {
        // Validation checks only an origin that differs from the one shown.
        event.request.origin = state.lent.origin.as_deref().cloned();
    }
    // Unchanged fields come from the lent request, or move out of the event (validation reads
    // neither the event's uri nor its querystring); read-only ones stay: `validate` moves them
    // over.
    let line = state.lent.request_line.as_deref();
    // A lent request line the hook did not touch stays the proxy's: nothing to copy or check.
    let line_kept = line.is_some() && changes.uri.is_none() && changes.querystring.is_none();
    let unchanged = |field, own: &mut String| match line {
        Some(_) if line_kept => String::new(),
        Some(line) => line.request_field(field).unwrap_or_default(),
        None => std::mem::take(own),
    };
    let request = CfRequest {
        client_ip: String::new(),
        method: String::new(),
        uri: changes
            .uri
            .unwrap_or_else(|| unchanged(RequestField::Uri, &mut event.request.uri)),
        querystring: changes.querystring.unwrap_or_else(|| {
            unchanged(RequestField::Querystring, &mut event.request.querystring)
        }),
        headers,
        body: changes.body.or_else(|| event.request.body.clone()),
        // `None`: the origin as the event showed it (left in the event, not copied).
        origin: changes.origin,
    };
    Ok(Box::new(Validated {
        outcome: HookOutcome::Request(request),
        header_edits: edits,
        line_kept,
    }))
}

/// Takes header map `index` out of the invocation, with what changed against the event's map
/// at `original` (if the event had one for this part).
fn take_headers(
    state: &mut HookState,
    index: usize,
    original: Option<usize>,
) -> (HeaderList, HeaderEdits) {
    let (list, edits) = state
        .header_maps
        .get_mut(index)
        .map(std::mem::take)
        .unwrap_or_default()
        .into_parts();
    if original == Some(index) {
        return (list, edits);
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
    (
        list,
        HeaderEdits {
            changed: None,
            read_only_before,
        },
    )
}

impl HookState {
    /// A new `headers` handle on map `index` of the running invocation.
    pub(crate) fn header_handle(&mut self, index: usize) -> wasmtime::Result<Resource<HeaderSlot>> {
        Ok(self.table.push(HeaderSlot {
            generation: self.generation,
            index,
        })?)
    }
}

fn event_type(e: EventType) -> wit::EventType {
    match e {
        EventType::ViewerRequest => wit::EventType::ViewerRequest,
        EventType::OriginRequest => wit::EventType::OriginRequest,
        EventType::OriginResponse => wit::EventType::OriginResponse,
        EventType::ViewerResponse => wit::EventType::ViewerResponse,
    }
}

pub(crate) fn body_to_wit(b: CfBody) -> wit::Body {
    wit::Body {
        input_truncated: b.input_truncated,
        action: match b.action {
            BodyAction::ReadOnly => wit::BodyAction::ReadOnly,
            BodyAction::Replace => wit::BodyAction::Replace,
        },
        encoding: match b.encoding {
            BodyEncoding::Base64 => wit::BodyEncoding::Base64,
            BodyEncoding::Text => wit::BodyEncoding::Text,
        },
        data: b.data,
    }
}

pub(crate) fn body_from_wit(b: wit::Body) -> CfBody {
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

pub(crate) fn encoding_from_wit(e: wit::BodyEncoding) -> BodyEncoding {
    match e {
        wit::BodyEncoding::Base64 => BodyEncoding::Base64,
        wit::BodyEncoding::Text => BodyEncoding::Text,
    }
}

pub(crate) fn origin_to_wit(o: &CfOrigin) -> wit::Origin {
    match o {
        CfOrigin::Named(n) => wit::Origin::Named(n.clone()),
        CfOrigin::Custom(c) => wit::Origin::Custom(wit::CustomOrigin {
            domain_name: c.domain_name.clone(),
            port: c.port,
            protocol: c.protocol.clone(),
            path: c.path.clone(),
            read_timeout: c.read_timeout,
            keepalive_timeout: c.keepalive_timeout,
            custom_headers: headers_to_wit(&c.custom_headers),
            ssl_protocols: c.ssl_protocols.clone(),
        }),
        CfOrigin::S3(s) => wit::Origin::S3(wit::S3Origin {
            auth_method: s.auth_method.clone(),
            custom_headers: headers_to_wit(&s.custom_headers),
            domain_name: s.domain_name.clone(),
            path: s.path.clone(),
            region: s.region.clone(),
        }),
    }
}

pub(crate) fn origin_from_wit(o: wit::Origin) -> CfOrigin {
    match o {
        wit::Origin::Named(n) => CfOrigin::Named(n),
        wit::Origin::Custom(c) => CfOrigin::Custom(CustomOrigin {
            domain_name: c.domain_name,
            port: c.port,
            protocol: c.protocol,
            path: c.path,
            read_timeout: c.read_timeout,
            keepalive_timeout: c.keepalive_timeout,
            custom_headers: headers_from_wit(c.custom_headers),
            ssl_protocols: c.ssl_protocols,
        }),
        wit::Origin::S3(s) => CfOrigin::S3(S3Origin {
            auth_method: s.auth_method,
            custom_headers: headers_from_wit(s.custom_headers),
            domain_name: s.domain_name,
            path: s.path,
            region: s.region,
        }),
    }
}

fn headers_from_wit(lines: Vec<wit::Header>) -> HeaderList {
    let mut list = HeaderList::new();
    for h in lines {
        list.append(&h.key, &h.key, &h.value);
    }
    list
}

fn headers_to_wit(list: &HeaderList) -> Vec<wit::Header> {
    list.iter()
        .map(|l| wit::Header {
            key: l.key.clone(),
            value: l.value.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use pingora::http::RequestHeader;

    use super::*;
    use crate::edge::event_wire::LentHeader;
    use crate::hooks::bindings::edge::hooks::types::{HostHeaders, HostRequest, HostResponse};
    use crate::hooks::lent::LentHeaders;
    use crate::hooks::memory_budget::MemoryBudget;
    use edge_event::CfConfig;

    fn state() -> HookState {
        HookState::new(
            &[],
            1 << 20,
            Arc::new(MemoryBudget::new(None)),
            Duration::MAX,
        )
    }

    fn event(et: EventType) -> Box<CfEvent> {
        Box::new(CfEvent {
            config: CfConfig {
                distribution_domain_name: "d.example".into(),
                distribution_id: "E1".into(),
                event_type: et,
                request_id: "r1".into(),
            },
            request: CfRequest {
                client_ip: "203.0.113.9".into(),
                method: "GET".into(),
                uri: "/a".into(),
                querystring: String::new(),
                headers: HeaderList::new(),
                body: None,
                origin: None,
            },
            response: (!et.is_request()).then(|| CfResponse {
                status: 404,
                status_description: "Not Found".into(),
                headers: HeaderList::new(),
                body: None,
                body_encoding: BodyEncoding::Text,
            }),
        })
    }

    fn lent<T: 'static>() -> Resource<T> {
        Resource::new_borrow(LENT)
    }

    #[test]
    fn the_call_borrows_the_running_events_request_and_response() {
        let mut s = state();
        let args = begin(&mut s, event(EventType::OriginResponse), Lent::default());
        assert!(!args.request.owned());
        assert!(args.response.as_ref().is_some_and(|r| !r.owned()));
        assert_eq!(s.uri(args.request).unwrap(), "/a");
        assert_eq!(
            HostResponse::status(&mut s, args.response.unwrap()).unwrap(),
            404
        );
        // Nothing went into the table for them.
        assert!(s.table.is_empty());
        let args = {
            end(&mut s);
            begin(&mut s, event(EventType::ViewerRequest), Lent::default())
        };
        assert!(args.response.is_none());
    }

    #[test]
    fn handles_the_call_did_not_lend_are_refused() {
        let mut s = state();
        // Before any invocation, and with a representation the host never lent.
        assert!(s.uri(lent()).is_err());
        begin(&mut s, event(EventType::ViewerRequest), Lent::default());
        assert!(s.uri(Resource::new_borrow(0)).is_err());
        // A request event lends no response, not even once the hook generated one.
        HostResponse::new(&mut s, 200).unwrap();
        assert!(HostResponse::status(&mut s, lent()).is_err());
        // Once the invocation ended, the loan is over.
        end(&mut s);
        assert!(s.uri(lent()).is_err());
    }

    #[test]
    fn a_lent_request_line_and_address_are_what_the_hook_reads() {
        let mut s = state();
        let wire = RequestHeader::build("POST", b"/p/q?x=1&y", None).unwrap();
        let line: Arc<dyn LentHeaders> = LentHeader::new(wire);
        // The event's own fields differ: they are not read when the request is lent.
        let mut event = event(EventType::ViewerRequest);
        event.request.uri = "/own".into();
        let lent_parts = Lent {
            request: Some(line),
            client_ip: Some("2001:db8::1".parse().unwrap()),
            ..Lent::default()
        };
        begin(&mut s, event, lent_parts);
        assert_eq!(s.method(lent()).unwrap(), "POST");
        assert_eq!(s.uri(lent()).unwrap(), "/p/q");
        assert_eq!(s.querystring(lent()).unwrap(), "x=1&y");
        assert_eq!(s.client_ip(lent()).unwrap(), "2001:db8::1");
        s.set_querystring(lent(), "z=2".into()).unwrap();
        assert_eq!(s.querystring(lent()).unwrap(), "z=2");
        // The outcome: the uri left alone as lent, the querystring as set.
        let validated = outcome_from_wit(&mut s, wit::Outcome::Request).unwrap();
        assert!(!validated.line_kept);
        let HookOutcome::Request(request) = validated.outcome else {
            panic!("a request outcome");
        };
        assert_eq!(
            (request.uri.as_str(), request.querystring.as_str()),
            ("/p/q", "z=2")
        );
    }

    #[test]
    fn a_lent_request_line_left_alone_is_kept_neither_copied_nor_checked_again() {
        // Longer than a hook may set: had the outcome copied it, validation would refuse it.
        let path = format!("/{}", "a".repeat(edge_event::limits::MAX_URL_CHARS));
        let wire = RequestHeader::build("GET", path.as_bytes(), None).unwrap();
        let lent_parts = Lent {
            request: Some(LentHeader::new(wire) as Arc<dyn LentHeaders>),
            ..Lent::default()
        };
        let mut s = state();
        begin(&mut s, event(EventType::ViewerRequest), lent_parts);
        assert_eq!(s.uri(lent()).unwrap(), path);
        let mut validated = outcome_from_wit(&mut s, wit::Outcome::Request).unwrap();
        let mut ended = end(&mut s).unwrap();
        assert!(validated.line_kept);
        let HookOutcome::Request(request) = &validated.outcome else {
            panic!("a request outcome");
        };
        assert_eq!(
            (request.uri.as_str(), request.querystring.as_str()),
            ("", "")
        );
        edge_event::validate_keeping_line(
            &mut ended,
            &mut validated.outcome,
            &validated.header_edits,
            validated.line_kept,
        )
        .expect("a kept line is the proxy's, not checked as the hook's");

        // The same line set by the hook is the hook's: checked, and refused.
        let wire = RequestHeader::build("GET", b"/", None).unwrap();
        let lent_parts = Lent {
            request: Some(LentHeader::new(wire) as Arc<dyn LentHeaders>),
            ..Lent::default()
        };
        begin(&mut s, event(EventType::ViewerRequest), lent_parts);
        s.set_uri(lent(), path).unwrap();
        let mut validated = outcome_from_wit(&mut s, wit::Outcome::Request).unwrap();
        let mut ended = end(&mut s).unwrap();
        assert!(!validated.line_kept);
        let refused = edge_event::validate_keeping_line(
            &mut ended,
            &mut validated.outcome,
            &validated.header_edits,
            validated.line_kept,
        )
        .unwrap_err();
        assert!(refused.contains("exceed"), "{refused}");
    }

    #[test]
    fn an_origin_set_back_as_shown_is_not_checked_again() {
        // A configured origin may be shown with values a hook could not set itself: a read
        // timeout past CloudFront's 60 s.
        let shown = CfOrigin::Custom(CustomOrigin {
            domain_name: "origin.example".into(),
            port: 8080,
            protocol: "http".into(),
            path: String::new(),
            read_timeout: 120,
            keepalive_timeout: 5,
            custom_headers: HeaderList::new(),
            ssl_protocols: vec!["TLSv1.2".into()],
        });
        let mut changed = shown.clone();
        if let CfOrigin::Custom(custom) = &mut changed {
            custom.port = 8081;
        }
        for (set, valid) in [(&shown, true), (&changed, false)] {
            let mut s = state();
            let lent_origin = Lent {
                origin: Some(Arc::new(shown.clone())),
                ..Lent::default()
            };
            begin(&mut s, event(EventType::OriginRequest), lent_origin);
            s.set_origin(lent(), origin_to_wit(set)).unwrap();
            let mut validated = outcome_from_wit(&mut s, wit::Outcome::Request).unwrap();
            let mut ended = end(&mut s).unwrap();
            let checked = edge_event::validate_keeping_line(
                &mut ended,
                &mut validated.outcome,
                &validated.header_edits,
                validated.line_kept,
            );
            assert_eq!(checked.is_ok(), valid, "{checked:?}");
        }
    }

    /// An event of `et` with its request (and, at response events, its response) lent, begun
    /// in a new state.
    fn lent_call(et: EventType) -> HookState {
        let mut s = state();
        let mut wire = RequestHeader::build("GET", b"/a?b=1", None).unwrap();
        wire.append_header("x-seen", "1").unwrap();
        let response = (!et.is_request()).then(|| {
            let mut wire = pingora::http::ResponseHeader::build(404, None).unwrap();
            wire.append_header("x-origin", "1").unwrap();
            LentHeader::new(wire) as Arc<dyn LentHeaders>
        });
        let lent_parts = Lent {
            request: Some(LentHeader::new(wire) as Arc<dyn LentHeaders>),
            response,
            origin: Some(Arc::new(CfOrigin::Named("o".into()))),
            client_ip: Some("192.0.2.1".parse().unwrap()),
        };
        begin(&mut s, event(et), lent_parts);
        s
    }

    fn edit(kind: wit::EditKind, name: &str) -> Vec<wit::HeaderEdit> {
        vec![wit::HeaderEdit {
            kind,
            name: name.into(),
            key: String::new(),
            value: "v".into(),
        }]
    }

    #[test]
    fn a_lent_request_or_response_the_hook_only_read_is_unchanged() {
        for et in [EventType::ViewerRequest, EventType::OriginRequest] {
            let mut s = lent_call(et);
            // Reads change nothing, however many and of whatever field.
            s.uri(lent()).unwrap();
            s.querystring(lent()).unwrap();
            s.method(lent()).unwrap();
            s.client_ip(lent()).unwrap();
            s.origin(lent()).unwrap();
            HostRequest::header(&mut s, lent(), "X-Seen".into()).unwrap();
            let headers = HostRequest::headers(&mut s, lent()).unwrap();
            HostHeaders::entries(&mut s, headers).unwrap();
            assert!(unchanged(&s, &wit::Outcome::Request), "{et}");
        }
        for et in [EventType::OriginResponse, EventType::ViewerResponse] {
            let mut s = lent_call(et);
            HostResponse::status(&mut s, lent()).unwrap();
            HostResponse::status_description(&mut s, lent()).unwrap();
            HostResponse::header(&mut s, lent(), "x-origin".into()).unwrap();
            // The status set to what it is, and the request edited (a response event's
            // outcome is its response: the request's changes are not taken).
            HostResponse::set_status(&mut s, lent(), 404).unwrap();
            HostRequest::edit_headers(&mut s, lent(), edit(wit::EditKind::Set, "x-a")).unwrap();
            assert!(unchanged(&s, &wit::Outcome::Response), "{et}");
        }
    }

    #[test]
    fn any_change_a_hook_makes_is_an_outcome_to_build_and_check() {
        type Change = fn(&mut HookState);
        let request_changes: [(&str, Change); 8] = [
            ("uri", |s| s.set_uri(lent(), "/a".into()).unwrap()),
            ("querystring", |s| {
                s.set_querystring(lent(), "b=1".into()).unwrap()
            }),
            ("origin", |s| {
                let shown = CfOrigin::Named("o".into());
                s.set_origin(lent(), origin_to_wit(&shown)).unwrap()
            }),
            ("body", |s| {
                // Shown with include-body (without, CloudFront ignores the change).
                let shown = CfBody {
                    input_truncated: false,
                    action: BodyAction::ReadOnly,
                    encoding: BodyEncoding::Base64,
                    data: String::new(),
                };
                s.event.as_mut().unwrap().request.body = Some(shown);
                let body = wit::Body {
                    input_truncated: false,
                    action: wit::BodyAction::Replace,
                    encoding: wit::BodyEncoding::Text,
                    data: "x".into(),
                };
                HostRequest::set_body(s, lent(), body).unwrap()
            }),
            ("header set", |s| {
                HostRequest::edit_headers(s, lent(), edit(wit::EditKind::Set, "x-seen")).unwrap()
            }),
            ("header append", |s| {
                HostRequest::edit_headers(s, lent(), edit(wit::EditKind::Append, "x-new")).unwrap()
            }),
            ("header delete of an absent name", |s| {
                HostRequest::edit_headers(s, lent(), edit(wit::EditKind::Delete, "x-absent"))
                    .unwrap()
            }),
            ("header set through the map", |s| {
                let headers = HostRequest::headers(s, lent()).unwrap();
                let line = wit::Header {
                    key: "X-Seen".into(),
                    value: "1".into(),
                };
                HostHeaders::set(s, headers, "x-seen".into(), vec![line]).unwrap()
            }),
        ];
        // Each change, even back to the value it had, is the hook's to have checked.
        for (what, change) in request_changes {
            let mut s = lent_call(EventType::OriginRequest);
            change(&mut s);
            assert!(!unchanged(&s, &wit::Outcome::Request), "{what}");
        }
        let response_changes: [(&str, Change); 4] = [
            ("status", |s| {
                HostResponse::set_status(s, lent(), 403).unwrap()
            }),
            ("description", |s| {
                HostResponse::set_status_description(s, lent(), "Not Found".into()).unwrap()
            }),
            ("body", |s| {
                HostResponse::set_body(s, lent(), "x".into(), wit::BodyEncoding::Text).unwrap()
            }),
            ("header", |s| {
                HostResponse::edit_headers(s, lent(), edit(wit::EditKind::Delete, "x-origin"))
                    .unwrap()
            }),
        ];
        for (what, change) in response_changes {
            let mut s = lent_call(EventType::OriginResponse);
            change(&mut s);
            assert!(!unchanged(&s, &wit::Outcome::Response), "{what}");
        }
    }

    #[test]
    fn only_the_outcome_of_the_event_lent_as_it_came_is_unchanged() {
        // The outcome of the other kind of trigger is validation's to refuse.
        let s = lent_call(EventType::ViewerResponse);
        assert!(!unchanged(&s, &wit::Outcome::Request));
        let s = lent_call(EventType::ViewerRequest);
        assert!(!unchanged(&s, &wit::Outcome::Response));
        // A generated response is always built and checked.
        let mut s = lent_call(EventType::ViewerRequest);
        let generated = HostResponse::new(&mut s, 200).unwrap();
        assert!(!unchanged(&s, &wit::Outcome::Generated(generated)));
        // An event read from JSON lends nothing: its outcome is returned whole.
        for (et, outcome) in [
            (EventType::ViewerRequest, wit::Outcome::Request),
            (EventType::ViewerResponse, wit::Outcome::Response),
        ] {
            let mut s = state();
            begin(&mut s, event(et), Lent::default());
            assert!(!unchanged(&s, &outcome), "{et}");
        }
        // No invocation running.
        assert!(!unchanged(&state(), &wit::Outcome::Request));
        // A status validation refuses stays refused, even as it came.
        let mut s = lent_call(EventType::OriginResponse);
        if let Some(response) = s.event.as_mut().and_then(|e| e.response.as_mut()) {
            response.status = 600;
        }
        s.responses[EVENT_RESPONSE].status = 600;
        assert!(!unchanged(&s, &wit::Outcome::Response));
    }

    #[test]
    fn an_outcome_names_only_what_the_event_has() {
        let mut s = state();
        begin(&mut s, event(EventType::ViewerRequest), Lent::default());
        let e = outcome_from_wit(&mut s, wit::Outcome::Response).unwrap_err();
        assert!(e.contains("no response"), "{e}");
        end(&mut s);
        begin(&mut s, event(EventType::ViewerResponse), Lent::default());
        let validated = outcome_from_wit(&mut s, wit::Outcome::Response).unwrap();
        assert!(matches!(
            validated.outcome,
            HookOutcome::Response(CfResponse { status: 404, .. })
        ));
        end(&mut s);
        // A generated response from an earlier invocation is refused.
        begin(&mut s, event(EventType::ViewerRequest), Lent::default());
        let old = HostResponse::new(&mut s, 200).unwrap();
        end(&mut s);
        begin(&mut s, event(EventType::ViewerRequest), Lent::default());
        let e = outcome_from_wit(&mut s, wit::Outcome::Generated(old)).unwrap_err();
        assert!(e.contains("earlier invocation"), "{e}");
    }
}
