//! What the proxy lends an invocation instead of copying it into the event: header maps, and
//! the origin an origin event shows.
//!
//! Building the event's header lists from the wire cost a no-op hook more than its call (every
//! line's name, key and value copied into strings before the guest ran, then dropped unread).
//! A lent map stays the proxy's own header, read in place: a hook that reads nothing costs
//! nothing for it, `get-first` is one lookup, and edits are kept beside the map (made on the
//! proxy's header after the call, as a list map's are); only a hook that lists a map whole has
//! it built into a list. The origin shown is made once per generation and shared.

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
}

/// What one event's call borrows from the proxy instead of carrying it in the event (the
/// event's own field is used for a part that is not lent).
#[derive(Default)]
pub struct Lent {
    /// The request's headers.
    pub request: Option<Arc<dyn LentHeaders>>,
    /// The response's headers (response events).
    pub response: Option<Arc<dyn LentHeaders>>,
    /// `request.origin` as shown (origin events): shared, built only if the hook reads it.
    pub origin: Option<Arc<CfOrigin>>,
}
