//! The operational log: tracing to stderr (stdout carries the access log).

/// Operational logs go to stderr, filtered by `RUST_LOG` (default `info`). Call once.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
