//! The host handles a hook holds. The event's request and response are lent to `handle` for
//! the call (contract 0.4): the hook uses them through copies of the borrowed handle that never
//! drop it (a copy is the handle's number: the request, its header map and the response share
//! one without an allocation), and hands nothing back. A response the hook generates is its own
//! until returned, shared by the response and its header map.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::rc::Rc;

use crate::bindings::edge::hooks::types as wit;

/// A handle lent for the call: usable like the resource, never dropped by the hook (the host
/// ends the loan when `handle` returns).
#[derive(Debug)]
pub(crate) struct Lent<T>(ManuallyDrop<T>);

/// Lent copies of the two resources `handle` borrows.
macro_rules! lent_resource {
    ($resource:ty) => {
        impl Lent<$resource> {
            /// The resource lent as `borrowed`.
            pub(crate) fn of(borrowed: &$resource) -> Self {
                // SAFETY: the copy stands for the same borrowed handle and never drops it; the
                // SDK keeps it only for the handler's call, within the loan.
                Lent(ManuallyDrop::new(unsafe {
                    <$resource>::from_handle(borrowed.handle())
                }))
            }
        }

        impl Clone for Lent<$resource> {
            fn clone(&self) -> Self {
                Self::of(&self.0)
            }
        }
    };
}

lent_resource!(wit::Request);
lent_resource!(wit::Response);

impl<T> Deref for Lent<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A response handle: the event's, lent for the call, or one the hook generated.
#[derive(Debug, Clone)]
pub(crate) enum HostResponse {
    /// The event's response (response events).
    Lent(Lent<wit::Response>),
    /// A response the hook made, returned as `generated`.
    Generated(Rc<wit::Response>),
}

impl HostResponse {
    /// The outcome that sends this response; a generated one must be held here only.
    pub(crate) fn into_outcome(self) -> Result<wit::Outcome, String> {
        match self {
            HostResponse::Lent(_) => Ok(wit::Outcome::Response),
            HostResponse::Generated(r) => Rc::try_unwrap(r)
                .map(wit::Outcome::Generated)
                .map_err(|_| "the response's handle is still shared".into()),
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
