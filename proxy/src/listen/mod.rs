//! What sits between a listening socket and the proxy pipeline.

mod header_deadline;

pub use header_deadline::{HeaderDeadline, HeaderDeadlineApp};
