//! The `headers` host resource: how hooks read and edit header maps without copying them.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types::{EditKind, Header, HeaderEdit, HostHeaders};
use super::invocation::HostHeaderMap;
use super::slots::HeaderSlot;
use super::state::HookState;
use edge_event::HeaderLine;

impl HookState {
    /// Makes `edits` in order on header map `index`, as if each were its own `set`, `append` or
    /// `delete` (`headers.apply`, `request.edit-headers`, `response.edit-headers`).
    pub(crate) fn apply_edits(
        &mut self,
        index: usize,
        edits: Vec<HeaderEdit>,
    ) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        let map = self
            .header_maps
            .get_mut(index)
            .ok_or_else(|| wasmtime::format_err!("unknown header map"))?;
        for edit in edits {
            let line = (edit.key, edit.value);
            match edit.kind {
                EditKind::Set => map.set_one(edit.name, line, read_only)?,
                EditKind::Append => map.append(edit.name, line, read_only)?,
                EditKind::Delete => map.delete(edit.name, read_only)?,
            }
        }
        Ok(())
    }

    /// The first value of `name` in header map `index`.
    pub(crate) fn first_header(
        &self,
        index: usize,
        name: &str,
    ) -> wasmtime::Result<Option<String>> {
        let map = self
            .header_maps
            .get(index)
            .ok_or_else(|| wasmtime::format_err!("unknown header map"))?;
        Ok(map.first(name))
    }

    fn slot_index(&self, handle: &Resource<HeaderSlot>) -> wasmtime::Result<usize> {
        let slot = *self.table.get(handle)?;
        self.check_generation(slot.generation, "headers")?;
        Ok(slot.index)
    }

    fn slot(&mut self, handle: &Resource<HeaderSlot>) -> wasmtime::Result<&mut HostHeaderMap> {
        let slot = *self.table.get(handle)?;
        self.check_generation(slot.generation, "headers")?;
        self.header_maps
            .get_mut(slot.index)
            .ok_or_else(|| wasmtime::format_err!("unknown headers handle"))
    }
}

fn to_wit(line: &HeaderLine) -> Header {
    Header {
        key: line.key.clone(),
        value: line.value.clone(),
    }
}

/// A contract header line as the `(key, value)` pair the invocation's maps take.
fn pair(h: Header) -> (String, String) {
    (h.key, h.value)
}

impl HostHeaders for HookState {
    fn new(&mut self) -> wasmtime::Result<Resource<HeaderSlot>> {
        self.invocation()?;
        let index = self.new_header_map()?;
        self.header_handle(index)
    }

    fn get(&mut self, this: Resource<HeaderSlot>, name: String) -> wasmtime::Result<Vec<Header>> {
        Ok(self.slot(&this)?.named(&name).iter().map(to_wit).collect())
    }

    fn get_first(
        &mut self,
        this: Resource<HeaderSlot>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.slot(&this)?.first(&name))
    }

    fn entries(&mut self, this: Resource<HeaderSlot>) -> wasmtime::Result<Vec<Header>> {
        Ok(self.slot(&this)?.lines().iter().map(to_wit).collect())
    }

    fn set(
        &mut self,
        this: Resource<HeaderSlot>,
        name: String,
        values: Vec<Header>,
    ) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        self.slot(&this)?
            .set(name, values.into_iter().map(pair).collect(), read_only)
    }

    fn append(
        &mut self,
        this: Resource<HeaderSlot>,
        name: String,
        value: Header,
    ) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        self.slot(&this)?.append(name, pair(value), read_only)
    }

    fn delete(&mut self, this: Resource<HeaderSlot>, name: String) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        self.slot(&this)?.delete(name, read_only)
    }

    fn apply(
        &mut self,
        this: Resource<HeaderSlot>,
        edits: Vec<HeaderEdit>,
    ) -> wasmtime::Result<()> {
        let index = self.slot_index(&this)?;
        self.apply_edits(index, edits)
    }

    fn drop(&mut self, rep: Resource<HeaderSlot>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
