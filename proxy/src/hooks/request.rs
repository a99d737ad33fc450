//! The `request` host resource: the event's request, read and changed one field at a time, so
//! a hook pays only for the fields it touches.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types::{self as wit, HostRequest};
use super::convert::{body_from_wit, body_to_wit, origin_from_wit, origin_to_wit};
use super::invocation::REQUEST_MAP;
use super::lent::RequestField;
use super::slots::{HeaderSlot, RequestSlot, LENT};
use super::state::HookState;
use edge_event::CfRequest;

impl HookState {
    /// The event's request, while `handle` (the request lent to the call) is.
    fn request(&self, handle: &Resource<RequestSlot>) -> wasmtime::Result<&CfRequest> {
        if handle.rep() != LENT {
            return Err(wasmtime::format_err!("unknown request handle"));
        }
        Ok(&self.invocation()?.request)
    }

    /// A request-line field as the event shows it: read from the lent request, else the
    /// event's own (`own`).
    fn request_line(
        &self,
        field: RequestField,
        own: impl Fn(&CfRequest) -> &String,
    ) -> wasmtime::Result<String> {
        let request = self.invocation()?;
        Ok(match &self.lent.request_line {
            Some(line) => line.request_field(field).unwrap_or_default(),
            None => own(&request.request).clone(),
        })
    }
}

impl HostRequest for HookState {
    fn client_ip(&mut self, this: Resource<RequestSlot>) -> wasmtime::Result<String> {
        let own = &self.request(&this)?.client_ip;
        Ok(match self.lent.client_ip {
            Some(ip) => ip.to_string(),
            None => own.clone(),
        })
    }

    fn method(&mut self, this: Resource<RequestSlot>) -> wasmtime::Result<String> {
        self.request(&this)?;
        self.request_line(RequestField::Method, |r| &r.method)
    }

    fn uri(&mut self, this: Resource<RequestSlot>) -> wasmtime::Result<String> {
        self.request(&this)?;
        match &self.changes.uri {
            Some(uri) => Ok(uri.clone()),
            None => self.request_line(RequestField::Uri, |r| &r.uri),
        }
    }

    fn set_uri(&mut self, this: Resource<RequestSlot>, uri: String) -> wasmtime::Result<()> {
        self.request(&this)?;
        self.changes.uri = Some(uri);
        Ok(())
    }

    fn querystring(&mut self, this: Resource<RequestSlot>) -> wasmtime::Result<String> {
        self.request(&this)?;
        match &self.changes.querystring {
            Some(querystring) => Ok(querystring.clone()),
            None => self.request_line(RequestField::Querystring, |r| &r.querystring),
        }
    }

    fn set_querystring(
        &mut self,
        this: Resource<RequestSlot>,
        querystring: String,
    ) -> wasmtime::Result<()> {
        self.request(&this)?;
        self.changes.querystring = Some(querystring);
        Ok(())
    }

    fn headers(&mut self, this: Resource<RequestSlot>) -> wasmtime::Result<Resource<HeaderSlot>> {
        self.request(&this)?;
        self.header_handle(REQUEST_MAP)
    }

    fn header(
        &mut self,
        this: Resource<RequestSlot>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        self.request(&this)?;
        self.first_header(REQUEST_MAP, &name)
    }

    fn edit_headers(
        &mut self,
        this: Resource<RequestSlot>,
        edits: Vec<wit::HeaderEdit>,
    ) -> wasmtime::Result<()> {
        self.request(&this)?;
        self.apply_edits(REQUEST_MAP, edits)
    }

    fn body(&mut self, this: Resource<RequestSlot>) -> wasmtime::Result<Option<wit::Body>> {
        let original = self.request(&this)?.body.as_ref();
        Ok(self
            .changes
            .body
            .as_ref()
            .or(original)
            .cloned()
            .map(body_to_wit))
    }

    fn set_body(&mut self, this: Resource<RequestSlot>, body: wit::Body) -> wasmtime::Result<()> {
        // Without include-body there is no body to replace: CloudFront ignores the change.
        if self.request(&this)?.body.is_some() {
            self.changes.body = Some(body_from_wit(body));
        }
        Ok(())
    }

    fn origin(&mut self, this: Resource<RequestSlot>) -> wasmtime::Result<Option<wit::Origin>> {
        let original = self.request(&this)?.origin.as_ref();
        let shown = original.or(self.lent.origin.as_deref());
        Ok(self.changes.origin.as_ref().or(shown).map(origin_to_wit))
    }

    fn set_origin(
        &mut self,
        this: Resource<RequestSlot>,
        origin: wit::Origin,
    ) -> wasmtime::Result<()> {
        self.request(&this)?;
        self.changes.origin = Some(origin_from_wit(origin));
        Ok(())
    }

    /// Nothing to free: the host only ever lends the event's request (dropping a borrow does
    /// not reach the host).
    fn drop(&mut self, _: Resource<RequestSlot>) -> wasmtime::Result<()> {
        Ok(())
    }
}
