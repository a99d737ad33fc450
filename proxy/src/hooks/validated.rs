//! What an invocation hands the trigger: the hook's outcome with what it changed in the header
//! map it returned. Read from the guest as the event's request or response as changed (or a
//! response it made), then checked by CloudFront's rules; boxed, as it goes through the call's
//! futures.

use edge_event::{HeaderEdits, HookOutcome};

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
