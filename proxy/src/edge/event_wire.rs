//! Between Pingora's request/response headers and the hook event model: building events from
//! what is on the wire, and putting a hook's changes back on the wire.

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::LocalKey;

use base64::Engine as _;
use bytes::Bytes;
use pingora::http::{HeaderNameVariant, RequestHeader, ResponseHeader};

use crate::hooks::{LentHeaders, RequestField};
use edge_event::{limits, wire, BodyEncoding, CfResponse, HeaderEdits, HeaderLine, HeaderList};

/// A header map from Pingora headers, keeping the names' case as received when Pingora kept it;
/// with `visible_only`, without the lines hooks never see (disallowed headers).
fn header_list(
    visible_only: bool,
    lines: usize,
    map: impl FnOnce(&mut dyn FnMut(HeaderNameVariant, &http::HeaderValue)) -> pingora::Result<()>,
) -> HeaderList {
    let mut list = HeaderList::with_capacity(lines);
    let _ = map(&mut |name, value| {
        let key = match name {
            HeaderNameVariant::Case(c) => c.as_slice(),
            HeaderNameVariant::Titled(t) => t.as_bytes(),
        };
        let mut name = owned_text(key);
        name.make_ascii_lowercase();
        if visible_only && limits::is_disallowed(&name) {
            return;
        }
        list.push(HeaderLine {
            name,
            key: owned_text(key),
            value: owned_text(value.as_bytes()),
        });
    });
    list
}

/// `bytes` as text. Header bytes are nearly always ASCII, which `is_ascii` checks a word at a
/// time where UTF-8 validation walks short strings a byte at a time (a quarter of the cost of
/// building a hook's header map went there); the rest are checked as UTF-8, then lossily.
fn owned_text(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return unsafe { String::from_utf8_unchecked(bytes.to_vec()) };
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The request's headers, every line (for function targets).
pub fn request_headers(req: &RequestHeader) -> HeaderList {
    request_header_list(req, false)
}

/// The request's headers as a hook sees them.
pub fn visible_request_headers(req: &RequestHeader) -> HeaderList {
    request_header_list(req, true)
}

fn request_header_list(req: &RequestHeader, visible_only: bool) -> HeaderList {
    header_list(visible_only, req.headers.len(), |f| {
        req.map(|n, v| {
            f(n, v);
            Ok(())
        })
    })
}

/// The response's headers as a hook sees them.
pub fn visible_response_headers(resp: &ResponseHeader) -> HeaderList {
    header_list(true, resp.headers.len(), |f| {
        resp.map(|n, v| {
            f(n, v);
            Ok(())
        })
    })
}

/// A Pingora request or response header as a hook sees it.
pub trait VisibleHeader {
    /// Every line a hook may see, in order, names' case as received.
    fn visible_lines(&self) -> HeaderList;
    /// Calls `f` with every line's name (case as received) and value.
    fn each_line(&self, f: &mut dyn FnMut(&[u8], &http::HeaderValue));
    /// The header map.
    fn header_map(&self) -> &http::HeaderMap;
    /// The method and target of a request (none for a response).
    fn request_line(&self) -> Option<(&http::Method, &http::Uri)>;
}

/// A header name's bytes, case as received.
fn name_bytes<'a>(name: &HeaderNameVariant<'a>) -> &'a [u8] {
    match name {
        HeaderNameVariant::Case(c) => c.as_slice(),
        HeaderNameVariant::Titled(t) => t.as_bytes(),
    }
}

/// The two Pingora header types read alike: their lines through `map`, their map as `headers`.
macro_rules! visible_header {
    ($header:ty, $visible_lines:path, $request_line:path) => {
        impl VisibleHeader for $header {
            fn visible_lines(&self) -> HeaderList {
                $visible_lines(self)
            }
            fn each_line(&self, f: &mut dyn FnMut(&[u8], &http::HeaderValue)) {
                let _ = self.map(|n, v| {
                    f(name_bytes(&n), v);
                    Ok(())
                });
            }
            fn header_map(&self) -> &http::HeaderMap {
                &self.headers
            }
            fn request_line(&self) -> Option<(&http::Method, &http::Uri)> {
                $request_line(self)
            }
        }
    };
}

visible_header!(RequestHeader, visible_request_headers, request_line_of);
visible_header!(ResponseHeader, visible_response_headers, no_request_line);

fn request_line_of(r: &RequestHeader) -> Option<(&http::Method, &http::Uri)> {
    Some((&r.method, &r.uri))
}

fn no_request_line(_: &ResponseHeader) -> Option<(&http::Method, &http::Uri)> {
    None
}

impl VisibleHeader for Box<RequestHeader> {
    fn visible_lines(&self) -> HeaderList {
        (**self).visible_lines()
    }
    fn each_line(&self, f: &mut dyn FnMut(&[u8], &http::HeaderValue)) {
        (**self).each_line(f)
    }
    fn header_map(&self) -> &http::HeaderMap {
        &self.headers
    }
    fn request_line(&self) -> Option<(&http::Method, &http::Uri)> {
        (**self).request_line()
    }
}

/// A Pingora header lent to one hook invocation in place of the event's list (see
/// [`LentHeaders`]): moved into this slot for the call and taken back from it after, however
/// the call ended.
#[derive(Debug)]
pub struct LentHeader<H>(Mutex<Option<H>>);

/// A header type whose lending slot each thread keeps for its next lend: a hook call lends one
/// or two headers, and allocating a slot (and building a stand-in, for a header lent from its
/// place) for each cost more than the lend. Between lends from a place, the kept slot holds the
/// stand-in the last one left behind.
pub trait KeptSlot: Sized + 'static {
    /// This thread's spare slot for the type.
    fn spare() -> &'static LocalKey<Cell<Option<Arc<LentHeader<Self>>>>>;
}

macro_rules! kept_slot {
    ($header:ty) => {
        impl KeptSlot for $header {
            fn spare() -> &'static LocalKey<Cell<Option<Arc<LentHeader<Self>>>>> {
                thread_local! {
                    static SPARE: Cell<Option<Arc<LentHeader<$header>>>> = const { Cell::new(None) };
                }
                &SPARE
            }
        }
    };
}

kept_slot!(RequestHeader);
kept_slot!(Box<RequestHeader>);
kept_slot!(ResponseHeader);

impl<H: KeptSlot> LentHeader<H> {
    /// A slot holding `header`: the thread's spare one, if it has one.
    pub fn new(header: H) -> Arc<Self> {
        match H::spare().take() {
            Some(slot) => {
                *slot.lock() = Some(header);
                slot
            }
            None => Arc::new(LentHeader(Mutex::new(Some(header)))),
        }
    }

    /// Lends the header at `place`, leaving a stand-in there until [`LentHeader::put_back_to`]
    /// (nothing reads the place while the call runs): the one kept in the thread's spare slot,
    /// or `stand_in()`'s. The header and the stand-in trade places (a header is a few hundred
    /// bytes: a swap moves each once).
    pub fn lend_from(
        place: &mut H,
        stand_in: impl FnOnce() -> pingora::Result<H>,
    ) -> pingora::Result<Arc<Self>> {
        let slot = H::spare()
            .take()
            .unwrap_or_else(|| Arc::new(LentHeader(Mutex::new(None))));
        {
            let mut held = slot.lock();
            if held.is_none() {
                match stand_in() {
                    Ok(built) => *held = Some(built),
                    Err(e) => {
                        drop(held);
                        H::spare().set(Some(slot));
                        return Err(e);
                    }
                }
            }
            std::mem::swap(place, held.as_mut().expect("a stand-in is held"));
        }
        Ok(slot)
    }

    /// Puts the header lent from `place` back there. The slot, once no invocation holds it,
    /// keeps the stand-in for the thread's next lend.
    pub fn put_back_to(self: Arc<Self>, place: &mut H) {
        {
            let mut held = self.lock();
            let Some(header) = held.as_mut() else {
                return;
            };
            std::mem::swap(place, header);
            if Arc::strong_count(&self) != 1 {
                // An invocation still holds the slot: it keeps nothing.
                *held = None;
                return;
            }
        }
        H::spare().set(Some(self));
    }

    /// The header, back from the invocation. The slot, once no invocation holds it (a call
    /// that timed out may still), is kept as the thread's spare.
    pub fn take_back(self: Arc<Self>) -> Option<H> {
        let header = self.lock().take();
        if Arc::strong_count(&self) == 1 {
            H::spare().set(Some(self));
        }
        header
    }
}

impl<H> LentHeader<H> {
    fn lock(&self) -> MutexGuard<'_, Option<H>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<H: VisibleHeader + Send + std::fmt::Debug> LentHeaders for LentHeader<H> {
    fn visible_lines(&self) -> HeaderList {
        self.lock()
            .as_ref()
            .map(VisibleHeader::visible_lines)
            .unwrap_or_default()
    }

    fn first(&self, name: &str) -> Option<String> {
        let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
        if limits::is_disallowed(name.as_str()) {
            return None;
        }
        let header = self.lock();
        let value = header.as_ref()?.header_map().get(&name)?;
        Some(owned_text(value.as_bytes()))
    }

    fn named(&self, name: &str) -> HeaderList {
        let mut lines = HeaderList::new();
        if limits::is_disallowed(name) {
            return lines;
        }
        if let Some(header) = self.lock().as_ref() {
            header.each_line(&mut |key, value| {
                if key.eq_ignore_ascii_case(name.as_bytes()) {
                    lines.push(HeaderLine {
                        name: name.to_string(),
                        key: owned_text(key),
                        value: owned_text(value.as_bytes()),
                    });
                }
            });
        }
        lines
    }

    fn line_count(&self) -> usize {
        self.lock().as_ref().map_or(0, |h| h.header_map().len())
    }

    fn request_field(&self, field: RequestField) -> Option<String> {
        let header = self.lock();
        let (method, uri) = header.as_ref()?.request_line()?;
        Some(
            match field {
                RequestField::Method => method.as_str(),
                RequestField::Uri => uri.path(),
                RequestField::Querystring => uri.query().unwrap_or(""),
            }
            .to_string(),
        )
    }
}

/// The header block of a request or response, as [`apply_headers`] edits it.
pub trait WireHeaders {
    /// The headers on the wire.
    fn map(&self) -> &http::HeaderMap;
    /// Removes every line of `name`.
    fn remove(&mut self, name: &http::HeaderName);
    /// Appends a line, keeping `key`'s case; both texts move onto the wire without a copy.
    fn append(&mut self, key: String, value: String) -> pingora::Result<()>;
}

/// A hook's header value as the wire's, its bytes moved, not copied.
fn wire_value(value: String) -> pingora::Result<http::HeaderValue> {
    http::HeaderValue::from_maybe_shared(Bytes::from(value)).map_err(|e| {
        pingora::Error::because(
            pingora::ErrorType::InvalidHTTPHeader,
            "header value set by a hook",
            e,
        )
    })
}

/// The two Pingora header types are edited alike.
macro_rules! wire_headers {
    ($header:ty) => {
        impl WireHeaders for $header {
            fn map(&self) -> &http::HeaderMap {
                &self.headers
            }
            fn remove(&mut self, name: &http::HeaderName) {
                self.remove_header(name);
            }
            fn append(&mut self, key: String, value: String) -> pingora::Result<()> {
                self.append_header(key, wire_value(value)?).map(|_| ())
            }
        }
    };
}

wire_headers!(RequestHeader);
wire_headers!(ResponseHeader);

/// Makes the wire's headers what the hook returned in `list`, touching only the names `edits`
/// says may have changed (most hooks change a header or two; rewriting every line would cost
/// more than the hook). The list's lines move onto the wire. Lines hooks never see (disallowed
/// headers such as `Connection`) and the framing headers the proxy owns (`Content-Length`,
/// `Transfer-Encoding`, `TE`) are kept as the wire has them.
pub fn apply_headers(
    wire: &mut impl WireHeaders,
    list: HeaderList,
    edits: &HeaderEdits,
) -> pingora::Result<()> {
    let mut lines: Vec<HeaderLine> = list.into_iter().collect();
    let Some(changed) = &edits.changed else {
        // A map of the hook's own: every visible name on the wire is replaced by the list's.
        let gone: Vec<http::HeaderName> = wire
            .map()
            .keys()
            .filter(|n| {
                !hook_may_not_write(n.as_str()) && !lines.iter().any(|l| l.name == n.as_str())
            })
            .cloned()
            .collect();
        for name in gone {
            wire.remove(&name);
        }
        let mut seen: Vec<String> = Vec::new();
        for at in 0..lines.len() {
            let name = &lines[at].name;
            if !seen.contains(name) && !hook_may_not_write(name) {
                let name = name.clone();
                sync_name(wire, &mut lines, &name)?;
                seen.push(name);
            }
        }
        return Ok(());
    };
    for (at, name) in changed.iter().enumerate() {
        // Each name once: its lines have moved onto the wire.
        if !hook_may_not_write(name) && !changed[..at].contains(name) {
            sync_name(wire, &mut lines, name)?;
        }
    }
    Ok(())
}

/// Names whose lines on the wire a hook's result never changes.
fn hook_may_not_write(name: &str) -> bool {
    limits::is_disallowed(name) || wire::is_proxy_owned(name)
}

/// Makes the wire's lines of `name` (lowercase) the list's, unless they already are; the lines
/// of `name` in `lines` are moved out (each name is synced once).
fn sync_name(
    wire: &mut impl WireHeaders,
    lines: &mut [HeaderLine],
    name: &str,
) -> pingora::Result<()> {
    // Parsed once: the lookup and both maps' removal below hash it without parsing it again.
    let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
        pingora::Error::because(
            pingora::ErrorType::InvalidHTTPHeader,
            "header name set by a hook",
            e,
        )
    })?;
    let on_wire = wire.map().get_all(&header_name);
    let present = on_wire.iter().next().is_some();
    let want = lines
        .iter()
        .filter(|l| l.name == name)
        .map(|l| l.value.as_bytes());
    if on_wire.iter().map(|h| h.as_bytes()).eq(want) {
        return Ok(());
    }
    // A name new to the wire (most headers hooks add) has nothing to remove.
    if present {
        wire.remove(&header_name);
    }
    for l in lines.iter_mut().filter(|l| l.name == name) {
        wire.append(std::mem::take(&mut l.key), std::mem::take(&mut l.value))?;
    }
    Ok(())
}

/// Sets uri and query string (validated by the same check).
pub fn apply_uri(req: &mut RequestHeader, uri: &str, querystring: &str) -> pingora::Result<()> {
    let target = wire::request_target(uri, querystring).map_err(|e| {
        pingora::Error::because(
            pingora::ErrorType::InvalidHTTPHeader,
            "uri set by a hook",
            e,
        )
    })?;
    req.set_uri(target.into());
    Ok(())
}

/// The decoded body of a hook's response, if it set one.
pub fn response_body(resp: &CfResponse) -> Option<Bytes> {
    let body = resp.body.as_ref()?;
    Some(match resp.body_encoding {
        BodyEncoding::Text => Bytes::from(body.clone()),
        // Validation already checked the base64.
        BodyEncoding::Base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap_or_default(),
        ),
    })
}

/// A generated response as a Pingora header (with `Content-Length` for `body_len`).
pub fn generated_header(resp: &CfResponse, body_len: usize) -> pingora::Result<ResponseHeader> {
    let mut header = ResponseHeader::build(resp.status, Some(resp.headers.len() + 2))?;
    if !resp.status_description.is_empty() {
        header.set_reason_phrase(Some(&resp.status_description))?;
    }
    for line in resp.headers.iter() {
        if !wire::is_proxy_owned(&line.name) {
            header.append_header(line.key.clone(), line.value.as_str())?;
        }
    }
    header.insert_header("Content-Length", body_len.to_string())?;
    Ok(header)
}

/// A 200 response on the wire with `lines` in order, names in their own case: the fixture of
/// the tests that lend or rewrite a wire header.
#[cfg(test)]
pub(crate) fn wire_response(lines: &[(&str, &str)]) -> ResponseHeader {
    let mut h = ResponseHeader::build(200, None).unwrap();
    for (k, v) in lines {
        h.append_header(k.to_string(), *v).unwrap();
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response on the wire: names in their own case, a repeated header, a hidden line.
    fn wire() -> ResponseHeader {
        wire_response(&[
            ("Content-Type", "text/html"),
            ("Set-Cookie", "a=1"),
            ("Connection", "keep-alive"),
            ("Set-Cookie", "b=2"),
        ])
    }

    fn lines(h: &ResponseHeader) -> Vec<(String, String)> {
        let mut out = Vec::new();
        h.each_line(&mut |k, v| {
            out.push((
                String::from_utf8(k.to_vec()).unwrap(),
                v.to_str().unwrap().to_string(),
            ))
        });
        out
    }

    fn changed(names: &[&str]) -> HeaderEdits {
        HeaderEdits {
            changed: Some(names.iter().map(|n| n.to_string()).collect()),
            read_only_before: Vec::new(),
        }
    }

    /// A slot taken back with no invocation holding it serves the thread's next lend; one an
    /// invocation still holds (a call that timed out) is not reused, and its header is gone.
    #[test]
    fn a_free_slot_serves_the_next_lend_and_a_held_one_does_not() {
        let first = LentHeader::new(wire_response(&[("X-A", "1")]));
        let at = Arc::as_ptr(&first);
        assert_eq!(first.take_back().unwrap().headers["x-a"], "1");
        let second = LentHeader::new(wire_response(&[("X-B", "2")]));
        assert_eq!(Arc::as_ptr(&second), at, "the spare slot is reused");
        let held = second.clone();
        let header = second.take_back().unwrap();
        assert_eq!(header.headers["x-b"], "2");
        assert!(!header.headers.contains_key("x-a"));
        let third = LentHeader::new(wire_response(&[]));
        assert_ne!(Arc::as_ptr(&third), at, "a slot still held was not kept");
        assert!(held.take_back().is_none(), "its header was taken back once");
    }

    /// A header lent from its place leaves a stand-in there and comes back to it; the stand-in
    /// is kept in the slot for the thread's next lend, unless an invocation still holds the
    /// slot. A stand-in that cannot be built fails the lend and leaves the place as it was.
    #[test]
    fn a_header_lent_from_its_place_comes_back_and_its_stand_in_is_kept() {
        let stand_in = || ResponseHeader::build_no_case(404, Some(0));
        let mut place = wire_response(&[("X-A", "1")]);
        let lent = LentHeader::lend_from(&mut place, stand_in).unwrap();
        assert_eq!(place.status, 404, "the stand-in holds the place");
        assert_eq!(lent.first("x-a").as_deref(), Some("1"));
        let at = Arc::as_ptr(&lent);
        lent.put_back_to(&mut place);
        assert_eq!(place.headers["x-a"], "1");
        let unused = || -> pingora::Result<ResponseHeader> { panic!("the kept stand-in serves") };
        let lent = LentHeader::lend_from(&mut place, unused).unwrap();
        assert_eq!(Arc::as_ptr(&lent), at, "the spare slot is reused");
        assert_eq!(place.status, 404);
        let held = lent.clone();
        lent.put_back_to(&mut place);
        assert_eq!(place.status, 200);
        assert_eq!(held.first("x-a"), None, "a held slot keeps nothing");
        let failing = || ResponseHeader::build_no_case(1000, Some(0));
        assert!(LentHeader::lend_from(&mut place, failing).is_err());
        assert_eq!(
            place.headers["x-a"], "1",
            "a failed lend leaves the place as it was"
        );
        drop(held);
    }

    #[test]
    fn changed_names_take_the_lists_lines_with_their_keys_and_others_stay() {
        let mut h = wire();
        let mut list = visible_response_headers(&h);
        list.set("set-cookie".into(), [("Set-Cookie".into(), "c=3".into())]);
        list.append("x-frame-options", "", "DENY");
        // The list still holds content-type: a name not in `changed` is not rewritten.
        apply_headers(&mut h, list, &changed(&["set-cookie", "x-frame-options"])).unwrap();
        assert_eq!(
            lines(&h),
            [
                ("Content-Type", "text/html"),
                ("Connection", "keep-alive"),
                ("Set-Cookie", "c=3"),
                ("X-Frame-Options", "DENY"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn a_name_listed_twice_as_changed_is_written_once() {
        let mut h = wire();
        let mut list = visible_response_headers(&h);
        list.append("x-a", "X-A", "1");
        list.append("x-a", "X-A", "2");
        apply_headers(&mut h, list, &changed(&["x-a", "x-a"])).unwrap();
        let values: Vec<_> = h.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
    }

    #[test]
    fn a_map_of_the_hooks_own_replaces_every_visible_name_and_keeps_hidden_lines() {
        let mut h = wire();
        let mut list = HeaderList::new();
        list.append("set-cookie", "set-cookie", "z=9");
        list.append("x-new", "", "1");
        list.append("set-cookie", "set-cookie", "y=8");
        apply_headers(&mut h, list, &HeaderEdits::replaced()).unwrap();
        assert_eq!(
            lines(&h),
            [
                ("Connection", "keep-alive"),
                ("set-cookie", "z=9"),
                ("set-cookie", "y=8"),
                ("X-New", "1"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn every_value_the_wire_cannot_carry_is_refused() {
        // Every control byte but tab, and DEL, anywhere in the value.
        let bad = (0u8..0x20).filter(|&b| b != b'\t').chain([0x7f]);
        for byte in bad {
            for value in [format!("{}", byte as char), format!("a{}b", byte as char)] {
                let mut h = wire();
                let mut list = HeaderList::new();
                list.append("x-bad", "X-Bad", &value);
                let result = apply_headers(&mut h, list, &changed(&["x-bad"]));
                assert!(result.is_err(), "byte {byte:#04x} reached the wire");
                assert!(h.headers.get("x-bad").is_none());
            }
        }
    }

    #[test]
    fn every_name_the_wire_cannot_carry_is_refused() {
        for key in ["a b", "a:b", "a\r\nb", "a\0", "é"] {
            let mut h = wire();
            let mut list = HeaderList::new();
            list.append("x-bad", key, "v");
            let result = apply_headers(&mut h, list, &changed(&["x-bad"]));
            assert!(result.is_err(), "key {key:?} reached the wire");
        }
    }
}
