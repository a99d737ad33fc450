//! Header maps the proxy lends to an invocation instead of copying them into the event.
//!
//! Building the event's header lists from the wire cost a no-op hook more than its call (every
//! line's name, key and value copied into strings before the guest ran, then dropped unread).
//! A lent map stays the proxy's own header, read in place: a hook that reads nothing costs
//! nothing for it, `get-first` is one lookup, and edits are kept beside the map (made on the
//! proxy's header after the call, as a list map's are); only a hook that lists a map whole has
//! it built into a list.

use edge_event::HeaderList;

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
}

/// The maps of one event lent instead of carried in it (an event's own list is used for a
/// part that is not lent).
#[derive(Default)]
pub struct LentMaps {
    /// The request's headers.
    pub request: Option<std::sync::Arc<dyn LentHeaders>>,
    /// The response's headers (response events).
    pub response: Option<std::sync::Arc<dyn LentHeaders>>,
}
