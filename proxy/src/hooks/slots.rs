//! What a guest's handles stand for on the host. The event's request and response are lent to
//! `handle` as borrows, which cannot outlive the call, under the fixed representation [`LENT`]
//! (nothing in the store's table: lending them costs no entry to make and delete). Handles the
//! guest owns (header maps, generated responses) are an index into the running invocation's
//! state plus the invocation's generation number, so a handle a warm instance kept from an
//! earlier invocation is refused rather than reaching another request's data.

/// The representation of the event's request and response as lent to `handle`. Table entries
/// are numbered from 0 and a store never holds this many, so it names no owned handle.
pub const LENT: u32 = u32::MAX;

/// The host side of a `headers` resource: which of this invocation's header maps it is.
#[derive(Debug, Clone, Copy)]
pub struct HeaderSlot {
    pub(crate) generation: u64,
    pub(crate) index: usize,
}

/// The host side of a `request` handle: the running invocation's request, only ever lent.
#[derive(Debug, Clone, Copy)]
pub struct RequestSlot;

/// The host side of a generated `response` handle: which of invocation `generation`'s responses
/// it is (the event's, lent, is [`LENT`]).
#[derive(Debug, Clone, Copy)]
pub struct ResponseSlot {
    pub(crate) generation: u64,
    pub(crate) index: usize,
}
