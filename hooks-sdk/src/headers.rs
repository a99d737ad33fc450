//! Header maps: lowercase name → lines with the name as sent. Inside the proxy they live on the
//! host (reading one header costs one call; the map's handle is asked for on first use) and
//! edits wait guest-side until the next read, the return of the request or response, or the
//! map's drop, then reach the host in one `apply` call; in native tests they are the model's
//! plain lists.

use std::cell::{OnceCell, RefCell};

use edge_event::HeaderList;

use crate::bindings::edge::hooks::types as wit;
use crate::host_handles::{HostResponse, Lent};
use crate::kept_buffers;

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
    /// The host's map (asked of its owner on first use), and edits not yet sent to it.
    Host(Host),
    /// Outside the proxy (native tests): the event model's own list.
    Local(HeaderList),
}

/// Whose map a host-side [`Headers`] is.
#[derive(Debug)]
pub(crate) enum Owner {
    Request(Lent<wit::Request>),
    Response(HostResponse),
}

#[derive(Debug)]
struct Host {
    owner: Option<Owner>,
    map: OnceCell<wit::Headers>,
    pending: RefCell<Vec<wit::HeaderEdit>>,
}

impl Host {
    fn map(&self) -> &wit::Headers {
        self.map.get_or_init(|| match &self.owner {
            Some(Owner::Request(r)) => r.headers(),
            Some(Owner::Response(r)) => r.headers(),
            None => wit::Headers::new(),
        })
    }

    /// Sends the queued edits to the host map in one call: through the owning request or
    /// response while no `headers` handle was needed (one call, nothing to drop).
    fn send(&self) {
        if self.pending.borrow().is_empty() {
            return;
        }
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        match (&self.owner, self.map.get()) {
            (_, Some(map)) => map.apply(&pending),
            (Some(Owner::Request(r)), None) => r.edit_headers(&pending),
            (Some(Owner::Response(r)), None) => r.edit_headers(&pending),
            (None, None) => self.map().apply(&pending),
        }
        kept_buffers::keep(pending);
    }

    /// Queues an edit of `name`, in a kept edit list when none is queued yet, its strings in
    /// kept buffers.
    fn queue(&mut self, kind: wit::EditKind, name: &str, key: &str, value: &str) {
        let pending = self.pending.get_mut();
        if pending.capacity() == 0 {
            *pending = kept_buffers::edit_list();
        }
        pending.push(wit::HeaderEdit {
            kind,
            name: kept_buffers::string(name),
            key: kept_buffers::string(key),
            value: kept_buffers::string(value),
        });
    }

    /// The map, with every queued edit sent.
    fn current(&self) -> &wit::Headers {
        self.send();
        self.map()
    }

    /// The first value of `name`, with every queued edit sent.
    fn first(&self, name: &str) -> Option<String> {
        self.send();
        match (&self.owner, self.map.get()) {
            (_, Some(map)) => map.get_first(name),
            (Some(Owner::Request(r)), None) => r.header(name),
            (Some(Owner::Response(r)), None) => r.header(name),
            (None, None) => self.map().get_first(name),
        }
    }
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
            Headers::host(None)
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

    /// The map of `owner`, held by the host.
    pub(crate) fn of(owner: Owner) -> Self {
        Headers::host(Some(owner))
    }

    fn host(owner: Option<Owner>) -> Self {
        Headers {
            inner: Inner::Host(Host {
                owner,
                map: OnceCell::new(),
                pending: RefCell::default(),
            }),
        }
    }

    /// Every line of `name` (any case), in order.
    pub fn get(&self, name: &str) -> Vec<Header> {
        match &self.inner {
            Inner::Host(h) => h.current().get(name).into_iter().map(from_wit).collect(),
            Inner::Local(list) => list.get(name).map(from_line).collect(),
        }
    }

    /// The first value of `name`: one call, one string copied.
    pub fn first(&self, name: &str) -> Option<String> {
        match &self.inner {
            Inner::Host(h) => h.first(name),
            Inner::Local(list) => list.first(name).map(str::to_string),
        }
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// Every line as `(lowercase name, line)`, in order.
    pub fn entries(&self) -> Vec<(String, Header)> {
        match &self.inner {
            Inner::Host(h) => h
                .current()
                .entries()
                .into_iter()
                .map(|l| (l.key.to_ascii_lowercase(), from_wit(l)))
                .collect(),
            Inner::Local(list) => list
                .iter()
                .map(|l| (l.name.clone(), from_line(l)))
                .collect(),
        }
    }

    /// Sets `name` to the single `value` (replacing every existing line).
    pub fn set(&mut self, name: &str, value: &str) {
        match &mut self.inner {
            Inner::Host(h) => h.queue(wit::EditKind::Set, name, "", value),
            Inner::Local(list) => list.set(name.to_string(), [(String::new(), value.to_string())]),
        }
    }

    /// Replaces every line of `name` with `lines` (empty removes the header).
    pub fn set_all(&mut self, name: &str, lines: Vec<Header>) {
        match &mut self.inner {
            Inner::Host(h) => {
                if lines.is_empty() {
                    h.queue(wit::EditKind::Delete, name, "", "");
                }
                for (i, line) in lines.iter().enumerate() {
                    let kind = if i == 0 {
                        wit::EditKind::Set
                    } else {
                        wit::EditKind::Append
                    };
                    h.queue(kind, name, &line.key, &line.value);
                }
            }
            Inner::Local(list) => list.set(
                name.to_string(),
                lines.into_iter().map(|l| (l.key, l.value)),
            ),
        }
    }

    /// Adds one line of `name` after the existing ones.
    pub fn append(&mut self, name: &str, value: &str) {
        match &mut self.inner {
            Inner::Host(h) => h.queue(wit::EditKind::Append, name, "", value),
            Inner::Local(list) => list.append(name, "", value),
        }
    }

    /// Removes every line of `name`.
    pub fn remove(&mut self, name: &str) {
        match &mut self.inner {
            Inner::Host(h) => h.queue(wit::EditKind::Delete, name, "", ""),
            Inner::Local(list) => list.delete(name),
        }
    }
}

impl Drop for Headers {
    /// Edits reach the host when the map goes: returning a request or response drops its map
    /// first, and edits to a map the hook does not return still apply, as if made one by one.
    fn drop(&mut self) {
        if let Inner::Host(h) = &self.inner {
            h.send();
        }
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
