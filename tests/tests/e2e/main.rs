//! End-to-end tests: the real `edge-proxy` binary, real origins and real clients over loopback.

#[macro_use]
mod stores;
mod cache;
mod check;
mod event_invocation;
mod files;
mod function_targets;
mod hardening;
mod hooks;
mod hygiene;
mod invoke;
mod new_hook;
mod noisy_neighbours;
mod observability;
mod operations;
mod origins;
mod ported;
mod realtime_logs;
mod routing;
mod support;
mod tls;
