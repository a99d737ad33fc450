//! What an invocation hands the trigger: that the hook changed nothing of what was lent to it,
//! or its outcome with what it changed in the header map it returned. Read from the guest as
//! the event's request or response as changed (or a response it made), then checked by
//! CloudFront's rules; boxed, as it goes through the call's futures.

use edge_event::{HeaderEdits, HookOutcome};

/// What a hook call decided, as the trigger acts on it.
#[derive(Debug)]
pub enum Decision {
    /// The hook went on with the event's request (request events) or response (response
    /// events) as lent to it, changing nothing: the proxy's own request or response is the
    /// outcome, with nothing to build, check or write back. Most viewer hooks decide this for
    /// most requests (an authorization check that passes, a hook that only reads or logs), so
    /// it costs them nothing beyond their call. Only a call whose request was lent decides it:
    /// an event read from JSON is returned whole.
    Unchanged,
    /// The hook's outcome, validated.
    Changed(Box<Validated>),
}

/// A validated outcome, with what the hook changed in the header map it returned (so the
/// proxy rewrites only those names on the wire).
#[derive(Debug)]
pub struct Validated {
    /// What the hook decided, as CloudFront would act on it.
    pub outcome: HookOutcome,
    /// The header names it changed.
    pub header_edits: HeaderEdits,
    /// A request outcome whose uri and querystring the hook left as the lent request has
    /// them: the outcome's are empty, and the proxy keeps its own request line (no copy out
    /// and back, no second check of a line checked when the request arrived).
    pub line_kept: bool,
}
