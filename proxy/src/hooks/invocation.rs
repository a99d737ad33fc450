//! What one invocation holds on the host while the guest runs: the event's header maps with the
//! edits made to them, the changes to the event's request, and the responses. The resources'
//! host code (`headers.rs`, `request.rs`, `response.rs`) reads and changes these; `convert.rs`
//! builds the outcome from them.

use edge_event::{BodyEncoding, CfBody, CfOrigin, HeaderLine, HeaderList};

/// Index of the event's request headers among the invocation's header maps.
pub(crate) const REQUEST_MAP: usize = 0;
/// Index of the event's response headers among the invocation's header maps.
pub(crate) const RESPONSE_MAP: usize = 1;

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
    pub(crate) fn set(
        &mut self,
        mut name: String,
        values: Vec<(String, String)>,
        read_only: &[&str],
    ) -> wasmtime::Result<()> {
        for (key, value) in &values {
            check_field(&name, key, value)?;
        }
        if self.list.len() + values.len() > MAX_LINES {
            return Err(wasmtime::format_err!("more than {MAX_LINES} header lines"));
        }
        name.make_ascii_lowercase();
        self.edit(&name, read_only).set(name, values);
        Ok(())
    }

    /// Adds one line of `name` after the existing ones.
    pub(crate) fn append(
        &mut self,
        mut name: String,
        (key, value): (String, String),
        read_only: &[&str],
    ) -> wasmtime::Result<()> {
        check_field(&name, &key, &value)?;
        if self.list.len() >= MAX_LINES {
            return Err(wasmtime::format_err!("more than {MAX_LINES} header lines"));
        }
        name.make_ascii_lowercase();
        self.edit(&name, read_only)
            .push(HeaderLine::new(name, key, value));
        Ok(())
    }

    /// Removes every line of `name`.
    pub(crate) fn delete(&mut self, mut name: String, read_only: &[&str]) {
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

/// Most lines one header map may hold, so a looping hook cannot grow host memory without bound.
const MAX_LINES: usize = 4096;
/// Longest header name or value a hook may write.
const MAX_FIELD_BYTES: usize = 64 * 1024;

fn check_field(name: &str, key: &str, value: &str) -> wasmtime::Result<()> {
    if name.len() > MAX_FIELD_BYTES || key.len() > MAX_FIELD_BYTES || value.len() > MAX_FIELD_BYTES
    {
        return Err(wasmtime::format_err!(
            "header field longer than {MAX_FIELD_BYTES} bytes"
        ));
    }
    Ok(())
}

/// What the hook set on the event's request; unset fields are the event's.
#[derive(Debug, Default)]
pub(crate) struct RequestChanges {
    pub(crate) uri: Option<String>,
    pub(crate) querystring: Option<String>,
    pub(crate) body: Option<CfBody>,
    pub(crate) origin: Option<CfOrigin>,
}

/// One response of the current invocation: the event's (index 0 in response events) or a
/// generated one.
#[derive(Debug)]
pub(crate) struct HostResponseData {
    pub(crate) status: u16,
    /// Empty means the standard phrase for `status`.
    pub(crate) status_description: String,
    /// Index of its header map.
    pub(crate) headers: usize,
    pub(crate) body: Option<String>,
    pub(crate) body_encoding: BodyEncoding,
}
