//! The `edge-proxy` binary.

use std::process::ExitCode;

/// jemalloc: glibc's allocator was measured at 2-3x the CPU per 100 KiB proxied request through
/// Pingora, from page faults on large buffers.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    edge_proxy::cli::main()
}
