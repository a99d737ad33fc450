//! The `response` host resource: the event's response (response events) or one a hook
//! generates, read and changed one field at a time.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types::{self as wit, HostResponse};
use super::convert::encoding_from_wit;
use super::invocation::{HostResponseData, EVENT_RESPONSE};
use super::slots::{HeaderSlot, ResponseSlot, LENT};
use super::state::HookState;
use edge_event::BodyEncoding;

/// Most responses one invocation may generate, so a looping hook cannot grow host memory.
const MAX_RESPONSES: usize = 64;

impl HookState {
    /// The response `handle` stands for: the event's (lent to the call), or one the running
    /// invocation generated.
    fn response(
        &mut self,
        handle: &Resource<ResponseSlot>,
    ) -> wasmtime::Result<&mut HostResponseData> {
        let index = self.response_index(handle)?;
        self.responses
            .get_mut(index)
            .ok_or_else(|| wasmtime::format_err!("unknown response handle"))
    }

    /// The index in `responses` of the response `handle` stands for.
    fn response_index(&self, handle: &Resource<ResponseSlot>) -> wasmtime::Result<usize> {
        if handle.rep() == LENT {
            return match self.invocation()?.response {
                Some(_) => Ok(EVENT_RESPONSE),
                None => Err(wasmtime::format_err!("unknown response handle")),
            };
        }
        let slot = *self.table.get(handle)?;
        self.check_generation(slot.generation, "response")?;
        Ok(slot.index)
    }
}

impl HostResponse for HookState {
    fn new(&mut self, status: u16) -> wasmtime::Result<Resource<ResponseSlot>> {
        self.invocation()?;
        let index = self.responses.len();
        if index >= MAX_RESPONSES {
            return Err(wasmtime::format_err!(
                "more than {MAX_RESPONSES} responses in one invocation"
            ));
        }
        let headers = self.new_header_map()?;
        self.responses.push(HostResponseData {
            status,
            status_description: String::new(),
            headers,
            body: None,
            body_encoding: BodyEncoding::Text,
        });
        Ok(self.table.push(ResponseSlot {
            generation: self.generation,
            index,
        })?)
    }

    fn status(&mut self, this: Resource<ResponseSlot>) -> wasmtime::Result<u16> {
        Ok(self.response(&this)?.status)
    }

    fn set_status(&mut self, this: Resource<ResponseSlot>, status: u16) -> wasmtime::Result<()> {
        self.response(&this)?.status = status;
        Ok(())
    }

    fn status_description(&mut self, this: Resource<ResponseSlot>) -> wasmtime::Result<String> {
        Ok(self.response(&this)?.status_description.clone())
    }

    fn set_status_description(
        &mut self,
        this: Resource<ResponseSlot>,
        description: String,
    ) -> wasmtime::Result<()> {
        let index = self.response_index(&this)?;
        let response = &mut self.responses[index];
        let before = std::mem::replace(&mut response.status_description, description);
        if index == EVENT_RESPONSE
            && self.event.as_ref().is_some_and(|e| e.response.is_some())
            && self.event_description.is_none()
        {
            self.event_description = Some(before);
        }
        Ok(())
    }

    fn headers(&mut self, this: Resource<ResponseSlot>) -> wasmtime::Result<Resource<HeaderSlot>> {
        let index = self.response(&this)?.headers;
        self.header_handle(index)
    }

    fn header(
        &mut self,
        this: Resource<ResponseSlot>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        let index = self.response(&this)?.headers;
        self.first_header(index, &name)
    }

    fn edit_headers(
        &mut self,
        this: Resource<ResponseSlot>,
        edits: Vec<wit::HeaderEdit>,
    ) -> wasmtime::Result<()> {
        let index = self.response(&this)?.headers;
        self.apply_edits(index, edits)
    }

    fn body(&mut self, this: Resource<ResponseSlot>) -> wasmtime::Result<Option<String>> {
        Ok(self.response(&this)?.body.clone())
    }

    fn set_body(
        &mut self,
        this: Resource<ResponseSlot>,
        body: String,
        encoding: wit::BodyEncoding,
    ) -> wasmtime::Result<()> {
        let response = self.response(&this)?;
        response.body = Some(body);
        response.body_encoding = encoding_from_wit(encoding);
        Ok(())
    }

    fn drop(&mut self, rep: Resource<ResponseSlot>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
