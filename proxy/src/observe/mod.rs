//! What an operator sees: Prometheus metrics, the access log and the operational log.

mod access_log;
mod logging;
mod metrics;

pub use access_log::AccessLogLine;
pub use logging::init_logging;
pub use metrics::Metrics;
