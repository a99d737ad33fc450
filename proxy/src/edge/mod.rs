//! The request pipeline: one `ProxyHttp` implementation whose phases read like CloudFront's.

mod context;
mod forwarding;
mod function_target;
mod hook_calls;
pub mod hook_events;
mod hygiene;
mod local_origin;
pub mod path;
mod proxy;
mod request_body;
mod respond;

pub use context::RequestContext;
pub use local_origin::{LocalOriginServer, LocalOrigins};
pub use proxy::EdgeProxy;
