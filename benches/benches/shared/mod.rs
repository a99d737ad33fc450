//! What the criterion bench and the instruction count share: a warm call as a trigger makes it,
//! with Pingora's headers lent and the hook's edits made on them.

use std::sync::Arc;

use edge_event::{CfEvent, HookOutcome};
use edge_proxy::edge::event_wire::{apply_headers, LentHeader};
use edge_proxy::hooks::{Decision, HookFunction, Lent, LentHeaders};
use pingora::http::{RequestHeader, ResponseHeader};

/// Moves the event's header lists into Pingora headers (the request's, and the response's of a
/// response event), leaving the lists empty: the event a trigger builds, and what it lends.
pub fn wire_headers(event: &mut CfEvent) -> (RequestHeader, Option<ResponseHeader>) {
    let mut request = RequestHeader::build(
        event.request.method.as_str(),
        event.request.uri.as_bytes(),
        None,
    )
    .unwrap();
    for line in std::mem::take(&mut event.request.headers).iter() {
        request
            .append_header(line.key.clone(), &line.value)
            .unwrap();
    }
    let response = event.response.as_mut().map(|r| {
        let mut response = ResponseHeader::build(r.status, None).unwrap();
        for line in std::mem::take(&mut r.headers).iter() {
            response
                .append_header(line.key.clone(), &line.value)
                .unwrap();
        }
        response
    });
    (request, response)
}

/// Calls `f` on `event` as a trigger does: `request` and `response` lent to the call, taken back
/// after it, and the hook's header edits made on them. Panics if the call fails.
pub async fn call_lending(
    f: &HookFunction,
    event: Box<CfEvent>,
    request: RequestHeader,
    response: Option<ResponseHeader>,
    request_id: &str,
) -> (Decision, RequestHeader, Option<ResponseHeader>) {
    let trigger = event.config.event_type;
    let request = LentHeader::new(request);
    let response = response.map(LentHeader::new);
    let lent_parts = Lent {
        request: Some(request.clone()),
        response: response.clone().map(|r| r as Arc<dyn LentHeaders>),
        origin: None,
        client_ip: None,
    };
    let (result, _) = f.invoke_lending(event, lent_parts, request_id).await;
    let mut request = request.take_back().expect("lent back");
    let mut response = response.and_then(|r| r.take_back());
    let mut decided = result.unwrap_or_else(|e| panic!("the call at {trigger} fails: {e}"));
    // A hook that changed nothing leaves the lent headers as they are.
    if let Decision::Changed(validated) = &mut decided {
        let edits = &validated.header_edits;
        match (&mut validated.outcome, &mut response) {
            (HookOutcome::Request(r), _) => {
                apply_headers(&mut request, std::mem::take(&mut r.headers), edits)
            }
            (HookOutcome::Response(r), Some(wire)) => {
                apply_headers(wire, std::mem::take(&mut r.headers), edits)
            }
            (other, _) => panic!("the call at {trigger} answered {other:?}"),
        }
        .expect("edits apply");
    }
    (decided, request, response)
}
