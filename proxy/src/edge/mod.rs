//! The request pipeline: one `ProxyHttp` implementation whose phases read like CloudFront's.

mod context;
mod failures;
mod forwarding;
mod function_target;
pub mod hook_events;
mod hygiene;
mod local_origin;
pub mod path;
mod proxy;
mod request_body;
mod request_log;
mod respond;
mod triggers;
mod upstream;
mod viewer;

pub use context::RequestContext;
pub use local_origin::{LocalOriginServer, LocalOrigins};
pub use proxy::EdgeProxy;
