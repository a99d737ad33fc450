//! The request pipeline: one `ProxyHttp` implementation whose phases read like CloudFront's.

mod context;
pub mod event_wire;
mod failures;
mod forwarding;
mod head_size;
mod held_body;
mod hygiene;
mod local_origin;
mod origin_head;
mod origin_view;
pub mod path;
mod proxy;
mod realtime_log;
mod request_body;
mod request_log;
mod respond;
mod target_group;
mod triggers;
mod upstream;
pub(crate) mod viewer;

pub use context::RequestContext;
pub use local_origin::{LocalOriginServer, LocalOrigins};
pub use proxy::EdgeProxy;
