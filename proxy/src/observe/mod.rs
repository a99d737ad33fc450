//! What an operator sees: Prometheus metrics, the access log, the operational log and the cost
//! report.

mod access_log;
pub mod cost;
mod event_metrics;
mod function_meters;
mod logging;
mod metrics;
mod request_meters;

pub use access_log::{flush as flush_access_log, AccessLogLine};
pub use function_meters::FunctionMeters;
pub use logging::init_logging;
pub use metrics::Metrics;
pub use request_meters::RequestMeters;
