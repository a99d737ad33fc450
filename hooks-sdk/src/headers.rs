//! Header maps: lowercase name → lines with the name as sent. Inside the proxy they live on the
//! host (reading one header costs one call) and edits wait guest-side until the next read, the
//! map's return or its drop, then reach the host in one `apply` call; in native tests they are
//! plain lists.

use std::cell::RefCell;

use edge_event::HeaderList;

use crate::bindings::edge::hooks::types as wit;

/// One header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name as sent (case preserved). Empty means "fill in the canonical form".
    pub key: String,
    /// The value.
    pub value: String,
}

/// A header map with Lambda@Edge's semantics: case-insensitive names, repeated lines kept in
/// order (two `Set-Cookie` stay two).
#[derive(Debug)]
pub struct Headers {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// The host's map, and edits not yet sent to it.
    Host(wit::Headers, RefCell<Vec<wit::HeaderEdit>>),
    /// Outside the proxy (native tests): the event model's own list.
    Local(HeaderList),
}

impl Default for Headers {
    fn default() -> Self {
        Self::new()
    }
}

impl Headers {
    /// An empty map (for a generated response).
    pub fn new() -> Self {
        if cfg!(target_arch = "wasm32") {
            Headers {
                inner: Inner::Host(wit::Headers::new(), RefCell::default()),
            }
        } else {
            Headers::local(HeaderList::new())
        }
    }

    /// A map held in the guest (native tests) with `list`'s lines.
    pub(crate) fn local(list: HeaderList) -> Self {
        Headers {
            inner: Inner::Local(list),
        }
    }

    /// The lines as the event model holds them, with every edit made.
    pub(crate) fn to_list(&self) -> HeaderList {
        match &self.inner {
            Inner::Host(..) => {
                let mut list = HeaderList::new();
                for (name, line) in self.entries() {
                    list.append(&name, &line.key, &line.value);
                }
                list
            }
            Inner::Local(list) => list.clone(),
        }
    }

    pub(crate) fn from_host(h: wit::Headers) -> Self {
        Headers {
            inner: Inner::Host(h, RefCell::default()),
        }
    }

    /// Hands the map to the host with every edit made, copying it there if it was built locally.
    pub(crate) fn into_host(mut self) -> wit::Headers {
        match std::mem::replace(&mut self.inner, Inner::Local(HeaderList::new())) {
            Inner::Host(h, pending) => {
                send(&h, &pending);
                h
            }
            Inner::Local(list) => {
                let h = wit::Headers::new();
                for line in list.iter() {
                    h.append(
                        &line.name,
                        &wit::Header {
                            key: line.key.clone(),
                            value: line.value.clone(),
                        },
                    );
                }
                h
            }
        }
    }

    /// Every line of `name` (any case), in order.
    pub fn get(&self, name: &str) -> Vec<Header> {
        match &self.inner {
            Inner::Host(h, pending) => {
                send(h, pending);
                h.get(name).into_iter().map(from_wit).collect()
            }
            Inner::Local(list) => list.get(name).map(from_line).collect(),
        }
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<String> {
        self.get(name).into_iter().next().map(|h| h.value)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// Every line as `(lowercase name, line)`, in order.
    pub fn entries(&self) -> Vec<(String, Header)> {
        match &self.inner {
            Inner::Host(h, pending) => {
                send(h, pending);
                h.entries()
                    .into_iter()
                    .map(|l| (l.key.to_ascii_lowercase(), from_wit(l)))
                    .collect()
            }
            Inner::Local(list) => list
                .iter()
                .map(|l| (l.name.clone(), from_line(l)))
                .collect(),
        }
    }

    /// Sets `name` to the single `value` (replacing every existing line).
    pub fn set(&mut self, name: &str, value: &str) {
        self.set_all(
            name,
            vec![Header {
                key: String::new(),
                value: value.to_string(),
            }],
        );
    }

    /// Replaces every line of `name` with `lines` (empty removes the header).
    pub fn set_all(&mut self, name: &str, lines: Vec<Header>) {
        match &mut self.inner {
            Inner::Host(_, pending) => pending.get_mut().push(wit::HeaderEdit::Set((
                name.to_string(),
                lines.into_iter().map(to_wit).collect(),
            ))),
            Inner::Local(list) => list.set(
                name.to_string(),
                lines.into_iter().map(|l| (l.key, l.value)),
            ),
        }
    }

    /// Adds one line of `name` after the existing ones.
    pub fn append(&mut self, name: &str, value: &str) {
        let line = Header {
            key: String::new(),
            value: value.to_string(),
        };
        match &mut self.inner {
            Inner::Host(_, pending) => pending
                .get_mut()
                .push(wit::HeaderEdit::Append((name.to_string(), to_wit(line)))),
            Inner::Local(list) => list.append(name, &line.key, &line.value),
        }
    }

    /// Removes every line of `name`.
    pub fn remove(&mut self, name: &str) {
        match &mut self.inner {
            Inner::Host(_, pending) => pending
                .get_mut()
                .push(wit::HeaderEdit::Delete(name.to_string())),
            Inner::Local(list) => list.delete(name),
        }
    }
}

impl Drop for Headers {
    /// Edits to a map the hook does not return still reach the host, as if made one by one.
    fn drop(&mut self) {
        if let Inner::Host(h, pending) = &self.inner {
            send(h, pending);
        }
    }
}

/// Sends the queued edits to the host map in one call.
fn send(h: &wit::Headers, pending: &RefCell<Vec<wit::HeaderEdit>>) {
    let mut pending = pending.borrow_mut();
    if !pending.is_empty() {
        h.apply(&pending);
        pending.clear();
    }
}

fn from_wit(h: wit::Header) -> Header {
    Header {
        key: h.key,
        value: h.value,
    }
}

fn from_line(l: &edge_event::HeaderLine) -> Header {
    Header {
        key: l.key.clone(),
        value: l.value.clone(),
    }
}

fn to_wit(h: Header) -> wit::Header {
    wit::Header {
        key: h.key,
        value: h.value,
    }
}
