//! The `headers` host resource: how hooks read and edit header maps without copying them.

use wasmtime::component::Resource;

use super::bindings::edge::hooks::types::{Header, HeaderEdit, HostHeaders};
use super::state::HookState;
use edge_event::{HeaderLine, HeaderList};

/// The host side of a `headers` resource: which of this invocation's header maps it is.
/// The generation guards against a handle kept from an earlier invocation of a warm instance.
#[derive(Debug, Clone, Copy)]
pub struct HeaderSlot {
    pub(crate) generation: u64,
    pub(crate) index: usize,
}

/// One header map of the current invocation, with the edits made to it so far.
#[derive(Debug, Default)]
pub(crate) struct HostHeaderMap {
    pub(crate) list: HeaderList,
    /// Lowercase names set, appended to or deleted, in first-edit order.
    pub(crate) changed: Vec<String>,
    /// Lines of read-only headers as they were before their first edit.
    pub(crate) read_only_before: Vec<(String, Vec<String>)>,
}

impl HostHeaderMap {
    /// A map holding `list`, not yet edited.
    pub(crate) fn new(list: HeaderList) -> Self {
        HostHeaderMap {
            list,
            ..Default::default()
        }
    }

    /// Notes that `name` (lowercase) is about to change, saving its lines first if it is one of
    /// `read_only`.
    fn edit(&mut self, name: &str, read_only: &[&str]) -> &mut HeaderList {
        if !self.changed.iter().any(|n| n == name) {
            if read_only.contains(&name) {
                let before = self.list.get(name).map(|l| l.value.clone()).collect();
                self.read_only_before.push((name.to_string(), before));
            }
            self.changed.push(name.to_string());
        }
        &mut self.list
    }

    /// Replaces every line of `name` with `values`.
    fn set(
        &mut self,
        mut name: String,
        values: Vec<Header>,
        read_only: &[&str],
    ) -> wasmtime::Result<()> {
        for v in &values {
            check_field(&name, v)?;
        }
        if self.list.len() + values.len() > MAX_LINES {
            return Err(wasmtime::format_err!("more than {MAX_LINES} header lines"));
        }
        name.make_ascii_lowercase();
        self.edit(&name, read_only)
            .set(name, values.into_iter().map(|h| (h.key, h.value)));
        Ok(())
    }

    /// Adds one line of `name` after the existing ones.
    fn append(
        &mut self,
        mut name: String,
        value: Header,
        read_only: &[&str],
    ) -> wasmtime::Result<()> {
        check_field(&name, &value)?;
        if self.list.len() >= MAX_LINES {
            return Err(wasmtime::format_err!("more than {MAX_LINES} header lines"));
        }
        name.make_ascii_lowercase();
        self.edit(&name, read_only)
            .push(HeaderLine::new(name, value.key, value.value));
        Ok(())
    }

    /// Removes every line of `name`.
    fn delete(&mut self, mut name: String, read_only: &[&str]) {
        name.make_ascii_lowercase();
        self.edit(&name, read_only).delete(&name);
    }

    /// The lines `name` had before the invocation.
    pub(crate) fn original(&self, name: &str) -> Vec<String> {
        match self.read_only_before.iter().find(|(n, _)| n == name) {
            Some((_, before)) => before.clone(),
            None => self.list.get(name).map(|l| l.value.clone()).collect(),
        }
    }
}

impl HookState {
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

/// Most lines one header map may hold, so a looping hook cannot grow host memory without bound.
const MAX_LINES: usize = 4096;
/// Longest header name or value a hook may write.
const MAX_FIELD_BYTES: usize = 64 * 1024;

fn check_field(name: &str, h: &Header) -> wasmtime::Result<()> {
    if name.len() > MAX_FIELD_BYTES
        || h.key.len() > MAX_FIELD_BYTES
        || h.value.len() > MAX_FIELD_BYTES
    {
        return Err(wasmtime::format_err!(
            "header field longer than {MAX_FIELD_BYTES} bytes"
        ));
    }
    Ok(())
}

impl HostHeaders for HookState {
    fn new(&mut self) -> wasmtime::Result<Resource<HeaderSlot>> {
        self.invocation()?;
        let index = self.new_header_map()?;
        self.header_handle(index)
    }

    fn get(&mut self, this: Resource<HeaderSlot>, name: String) -> wasmtime::Result<Vec<Header>> {
        Ok(self.slot(&this)?.list.get(&name).map(to_wit).collect())
    }

    fn get_first(
        &mut self,
        this: Resource<HeaderSlot>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.slot(&this)?.list.first(&name).map(str::to_string))
    }

    fn entries(&mut self, this: Resource<HeaderSlot>) -> wasmtime::Result<Vec<Header>> {
        Ok(self.slot(&this)?.list.iter().map(to_wit).collect())
    }

    fn set(
        &mut self,
        this: Resource<HeaderSlot>,
        name: String,
        values: Vec<Header>,
    ) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        self.slot(&this)?.set(name, values, read_only)
    }

    fn append(
        &mut self,
        this: Resource<HeaderSlot>,
        name: String,
        value: Header,
    ) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        self.slot(&this)?.append(name, value, read_only)
    }

    fn delete(&mut self, this: Resource<HeaderSlot>, name: String) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        self.slot(&this)?.delete(name, read_only);
        Ok(())
    }

    fn apply(
        &mut self,
        this: Resource<HeaderSlot>,
        edits: Vec<HeaderEdit>,
    ) -> wasmtime::Result<()> {
        let read_only = self.read_only;
        let map = self.slot(&this)?;
        for edit in edits {
            match edit {
                HeaderEdit::Set((name, values)) => map.set(name, values, read_only)?,
                HeaderEdit::Append((name, value)) => map.append(name, value, read_only)?,
                HeaderEdit::Delete(name) => map.delete(name, read_only),
            }
        }
        Ok(())
    }

    fn drop(&mut self, rep: Resource<HeaderSlot>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
