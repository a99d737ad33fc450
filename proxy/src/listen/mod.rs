//! What sits between a listening socket and the proxy pipeline.

mod header_deadline;
mod refusal;
mod viewer_app;

pub use header_deadline::HeaderDeadline;
pub use viewer_app::{ConnectionLimits, ViewerApp};
