//! Write edge-proxy hooks in Rust.
//!
//! A hook is one function over a Lambda@Edge-shaped [`Event`], exported in one line. It runs at
//! any of CloudFront's four trigger points (viewer request, origin request, origin response,
//! viewer response), decided by the proxy configuration, not by the code. Inside the proxy the
//! event stays on the host: each accessor (`request.uri()`, `headers.first("host")`, …) is one
//! call, so a hook pays for what it reads and writes, nothing else:
//!
//! ```no_run
//! use edge_hooks::{Event, Outcome};
//!
//! fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
//!     let mut response = event.response.ok_or("attach me to a response trigger")?;
//!     response.headers.set("x-frame-options", "DENY");
//!     Ok(response.into())
//! }
//!
//! edge_hooks::export_hook!(handler);
//! ```
//!
//! The same function, one example per trigger:
//!
//! ```
//! use edge_hooks::{Event, Origin, Outcome, Response};
//!
//! // viewer-request: answer without the origin, or rewrite the request.
//! fn viewer_request(event: Event) -> Result<Outcome, edge_hooks::Error> {
//!     let mut request = event.request;
//!     if request.headers.first("authorization").is_none() {
//!         return Ok(Response::new(401).with_header("www-authenticate", "Basic").into());
//!     }
//!     request.set_uri(&format!("/members{}", request.uri()));
//!     Ok(request.into())
//! }
//!
//! // origin-request (on a cache miss): pick where the request goes.
//! fn origin_request(event: Event) -> Result<Outcome, edge_hooks::Error> {
//!     let mut request = event.request;
//!     if request.uri().starts_with("/api/") {
//!         request.set_origin(Origin::Named("api".into()));
//!     }
//!     Ok(request.into())
//! }
//!
//! // origin-response (before the cache stores it): fix what the origin sent.
//! fn origin_response(event: Event) -> Result<Outcome, edge_hooks::Error> {
//!     let mut response = event.response.ok_or("origin-response")?;
//!     if !response.headers.contains("cache-control") {
//!         response.headers.set("cache-control", "max-age=60");
//!     }
//!     Ok(response.into())
//! }
//!
//! // viewer-response (every response, cached or not): headers for the viewer.
//! fn viewer_response(event: Event) -> Result<Outcome, edge_hooks::Error> {
//!     let mut response = event.response.ok_or("viewer-response")?;
//!     response.headers.set("x-frame-options", "DENY");
//!     Ok(response.into())
//! }
//!
//! // Each checked by the proxy's own rules, natively:
//! let Outcome::Response(r) = edge_hooks::run(viewer_request, Event::viewer_request("/")).unwrap()
//! else { panic!() };
//! assert_eq!(r.status(), 401);
//! assert!(edge_hooks::run(origin_request, Event::origin_request("/api/x")).is_ok());
//! let Outcome::Response(r) = edge_hooks::run(origin_response, Event::origin_response("/", 200)).unwrap()
//! else { panic!() };
//! assert_eq!(r.headers.first("cache-control").as_deref(), Some("max-age=60"));
//! assert!(edge_hooks::run(viewer_response, Event::viewer_response("/", 200)).is_ok());
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`. The handler is ordinary Rust: unit
//! test it natively with the [`Event`] builders (`Event::viewer_request("/p?lang=fr")`) or
//! [`Event::from_aws_json`] on AWS's sample events, and [`run`] to apply the proxy's validation.

#![deny(missing_docs)]

pub mod alb;
mod aws_json;
mod error;
mod event;
mod headers;
mod host_handles;
mod json_function;
mod kept_buffers;
mod query;
mod testing;

pub use aws_json::run_on_aws_json;
pub use edge_event::{
    BodyAction, BodyEncoding, CfBody as Body, CfConfig as Config, CfOrigin as Origin, CustomOrigin,
    EventType, HeaderList, S3Origin,
};
pub use event::{Event, Outcome, Request, Response};
pub use headers::{Header, Headers};
pub use query::QueryString;
pub use testing::{run, validate};

pub use error::Error;

/// Guest bindings generated from `wit/hooks.wit`, the contract shared with the proxy.
#[doc(hidden)]
pub mod bindings;

/// Guest bindings of the `lambda` world (ALB and API Gateway targets).
#[doc(hidden)]
pub mod lambda_bindings;

#[doc(hidden)]
pub mod __private {
    pub use crate::alb::invoke;
    pub use crate::event::handle;
    pub use crate::json_function::invoke as invoke_json;
}

/// Exports `handler` (`fn(AlbRequest) -> Result<AlbResponse, Error>`) as an ALB target function
/// (the `lambda` world).
#[macro_export]
macro_rules! export_alb_function {
    ($handler:path) => {
        #[doc(hidden)]
        struct __EdgeAlbFunction;

        impl $crate::lambda_bindings::Guest for __EdgeAlbFunction {
            fn invoke(event: ::std::vec::Vec<u8>) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                $crate::__private::invoke(event, $handler)
            }
        }

        $crate::lambda_bindings::export_lambda_world!(__EdgeAlbFunction with_types_in $crate::lambda_bindings);
    };
}

/// Exports `handler` (`fn(serde_json::Value) -> Result<serde_json::Value, Error>`) as a
/// `lambda`-world function on any event: a destination or a real-time log processor.
#[macro_export]
macro_rules! export_json_function {
    ($handler:path) => {
        #[doc(hidden)]
        struct __EdgeJsonFunction;

        impl $crate::lambda_bindings::Guest for __EdgeJsonFunction {
            fn invoke(event: ::std::vec::Vec<u8>) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                $crate::__private::invoke_json(event, $handler)
            }
        }

        $crate::lambda_bindings::export_lambda_world!(__EdgeJsonFunction with_types_in $crate::lambda_bindings);
    };
}

/// Exports `handler` (`fn(Event) -> Result<Outcome, Error>`) as the component's hook.
#[macro_export]
macro_rules! export_hook {
    ($handler:path) => {
        #[doc(hidden)]
        struct __EdgeHook;

        impl $crate::bindings::Guest for __EdgeHook {
            fn handle(
                event_type: $crate::bindings::edge::hooks::types::EventType,
                request: &$crate::bindings::edge::hooks::types::Request,
                response: ::core::option::Option<&$crate::bindings::edge::hooks::types::Response>,
            ) -> ::core::result::Result<$crate::bindings::edge::hooks::types::Outcome, ::std::string::String> {
                $crate::__private::handle(event_type, request, response, $handler)
            }
        }

        $crate::bindings::export_hook_world!(__EdgeHook with_types_in $crate::bindings);
    };
}
