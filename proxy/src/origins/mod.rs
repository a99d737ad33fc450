//! Origins: where a behavior's requests are answered.

mod files;
mod http;

pub use self::http::{HttpUpstream, UpstreamError};
pub use files::{FileBody, FileResponse, FilesBucket};
