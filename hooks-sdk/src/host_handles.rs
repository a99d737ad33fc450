//! The host handles a hook holds. The event's request and response are lent to `handle` for
//! the call (contract 0.4): the hook uses them through copies of the borrowed handle that never
//! drop it, and hands nothing back. A response the hook generates is its own until returned.

use std::mem::ManuallyDrop;
use std::ops::Deref;

use crate::bindings::edge::hooks::types as wit;

/// A handle lent for the call: usable like the resource, never dropped by the hook (the host
/// ends the loan when `handle` returns).
#[derive(Debug)]
pub(crate) struct Lent<T>(ManuallyDrop<T>);

impl Lent<wit::Request> {
    /// The event's request, lent as `borrowed`.
    pub(crate) fn request(borrowed: &wit::Request) -> Self {
        // SAFETY: the copy stands for the same borrowed handle and never drops it; the SDK
        // keeps it only for the handler's call, within the loan.
        Lent(ManuallyDrop::new(unsafe {
            wit::Request::from_handle(borrowed.handle())
        }))
    }
}

impl<T> Deref for Lent<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A response handle: the event's, lent for the call, or one the hook generated.
#[derive(Debug)]
pub(crate) enum HostResponse {
    /// The event's response (response events).
    Lent(Lent<wit::Response>),
    /// A response the hook made, returned as `generated`.
    Generated(wit::Response),
}

impl HostResponse {
    /// The event's response, lent as `borrowed`.
    pub(crate) fn lent(borrowed: &wit::Response) -> Self {
        // SAFETY: as for `Lent::request`.
        HostResponse::Lent(Lent(ManuallyDrop::new(unsafe {
            wit::Response::from_handle(borrowed.handle())
        })))
    }

    /// The outcome that sends this response.
    pub(crate) fn into_outcome(self) -> wit::Outcome {
        match self {
            HostResponse::Lent(_) => wit::Outcome::Response,
            HostResponse::Generated(r) => wit::Outcome::Generated(r),
        }
    }
}

impl Deref for HostResponse {
    type Target = wit::Response;

    fn deref(&self) -> &wit::Response {
        match self {
            HostResponse::Lent(r) => r,
            HostResponse::Generated(r) => r,
        }
    }
}
