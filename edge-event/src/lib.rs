//! The Lambda@Edge event as edge-proxy and its hook SDK both see it.
//!
//! One model ([`CfEvent`] and what a hook returns, [`HookOutcome`]), one reader and writer of
//! its AWS JSON form ([`aws_json`]), AWS's limits ([`limits`]) and the rules a hook's result must
//! keep ([`validate()`], [`wire`]). The proxy builds events from Pingora's requests and acts on
//! validated outcomes; the SDK's native tests read AWS's sample events and check results with
//! the same code, so a hook that passes its unit tests is not refused by the proxy for a rule
//! the tests did not know. Nothing here depends on wasmtime or Pingora: it builds for
//! `wasm32-wasip2` as well as for the host.

#![deny(missing_docs)]

pub mod aws_json;
mod edits;
mod headers;
pub mod limits;
mod model;
mod validate;
pub mod wire;

pub use aws_json::JsonError;
pub use edits::HeaderEdits;
pub use headers::{canonical_key, HeaderLine, HeaderList};
pub use model::{
    BodyAction, BodyEncoding, CfBody, CfConfig, CfEvent, CfOrigin, CfRequest, CfResponse,
    CustomOrigin, EventType, HookOutcome, S3Origin,
};
pub use validate::{validate, validate_keeping_line};
