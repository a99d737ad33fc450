//! The operational log: tracing to stderr (stdout carries the access log).

use std::io::IsTerminal;

/// Operational logs go to stderr, filtered by `RUST_LOG` (default `info`), coloured only when
/// stderr is a terminal and `NO_COLOR` is unset: a file, a pipe or journald gets plain text that
/// `grep` and log shippers read as written. Call once.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
