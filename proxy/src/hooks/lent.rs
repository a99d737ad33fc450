//! What the proxy lends an invocation instead of copying it into the event: header maps, the
//! request line, the viewer's address, and the origin an origin event shows.
//!
//! Building the event's header lists from the wire cost a no-op hook more than its call (every
//! line's name, key and value copied into strings before the guest ran, then dropped unread).
//! A lent map stays the proxy's own header, read in place: a hook that reads nothing costs
//! nothing for it, `get-first` is one lookup, and edits are kept beside the map (made on the
//! proxy's header after the call, as a list map's are); only a hook that lists a map whole has
//! it built into a list. The request's method, uri and querystring are read from the lent
//! request, and the viewer's address written as text, only when a hook asks for them (most never
//! do: every event used to carry four strings made and dropped unread). The origin shown is made
//! once per generation and shared.

use std::net::IpAddr;
use std::sync::Arc;

use edge_event::{CfOrigin, HeaderList};

/// A header map lent for one invocation: the proxy keeps the header in a slot it takes back
/// after the call, however the call ended (a call that timed out is dropped with its store,
/// which holds only its share of the slot).
pub trait LentHeaders: Send + Sync + std::fmt::Debug {
    /// Every line a hook may see, in order: the event's list, built when a hook first needs
    /// the whole map.
    fn visible_lines(&self) -> HeaderList;
    /// The value of the first line of `name` (any case) a hook may see, without building the
    /// list.
    fn first(&self, name: &str) -> Option<String>;
    /// The lines of `name` (lowercase) a hook may see, in order.
    fn named(&self, name: &str) -> HeaderList;
    /// Lines in the map.
    fn line_count(&self) -> usize;
    /// A field of the request line (request headers only; `None` for a response's).
    fn request_field(&self, field: RequestField) -> Option<String>;
}

/// A field of a lent request's request line, as the event's request shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestField {
    /// `request.method`.
    Method,
    /// `request.uri`: the path.
    Uri,
    /// `request.querystring`: the query without `?` (empty when none).
    Querystring,
}

/// What one event's call borrows from the proxy instead of carrying it in the event (the
/// event's own field is used for a part that is not lent).
#[derive(Default)]
pub struct Lent {
    /// The request's headers, and its method, uri and querystring (the event's are not read).
    pub request: Option<Arc<dyn LentHeaders>>,
    /// The response's headers (response events).
    pub response: Option<Arc<dyn LentHeaders>>,
    /// `request.origin` as shown (origin events): shared, built only if the hook reads it.
    pub origin: Option<Arc<CfOrigin>>,
    /// The viewer's address: `request.client-ip` is its text (the event's is not read).
    pub client_ip: Option<IpAddr>,
}

/// What the running invocation has lent besides its header maps (kept with the other maps).
#[derive(Default)]
pub(crate) struct LentFields {
    /// Where the request line is read.
    pub(crate) request_line: Option<Arc<dyn LentHeaders>>,
    /// `request.origin` as shown.
    pub(crate) origin: Option<Arc<CfOrigin>>,
    /// The viewer's address.
    pub(crate) client_ip: Option<IpAddr>,
}
