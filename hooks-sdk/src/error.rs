//! The error type handlers return.

/// The error a handler returns: any error converts (`?` works), as in `lambda_runtime`. The
/// proxy treats it as a function error: the viewer gets 503.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
