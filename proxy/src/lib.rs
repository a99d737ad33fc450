//! edge-proxy: an edge HTTP reverse proxy built on Pingora.
//!
//! A request passes through ordered *behaviors* (host + path pattern, as CloudFront's cache
//! behaviors) to an *origin*: upstream HTTP servers or a local directory served like an S3
//! bucket. The binary is a thin wrapper over [`cli::main`].

pub mod admin;
pub mod async_invoke;
pub mod cache;
pub mod cli;
pub mod config;
pub mod edge;
pub mod fuzzing;
pub mod hooks;
pub mod host;
pub mod invoke;
pub mod lambda;
pub mod listen;
pub mod new_hook;
pub mod node;
pub mod observe;
pub mod origins;
pub mod queue;
pub mod realtime_logs;
pub mod reload_command;
pub mod server;
