//! What an operator sees: Prometheus metrics, the admin listener and the access log.

mod access_log;
mod admin;
mod metrics;

pub use access_log::AccessLogLine;
pub use admin::AdminApp;
pub use metrics::Metrics;
