//! What a guest's handles stand for on the host: an index into the running invocation's state
//! plus the invocation's generation number, so a handle a warm instance kept from an earlier
//! invocation is refused rather than reaching another request's data.

/// The host side of a `headers` resource: which of this invocation's header maps it is.
#[derive(Debug, Clone, Copy)]
pub struct HeaderSlot {
    pub(crate) generation: u64,
    pub(crate) index: usize,
}

/// The host side of a `request` handle: the event's request of invocation `generation`.
#[derive(Debug, Clone, Copy)]
pub struct RequestSlot {
    pub(crate) generation: u64,
}

/// The host side of a `response` handle: which of invocation `generation`'s responses it is.
#[derive(Debug, Clone, Copy)]
pub struct ResponseSlot {
    pub(crate) generation: u64,
    pub(crate) index: usize,
}
