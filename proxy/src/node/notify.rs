//! The systemd readiness protocol (`Type=notify`), so a service manager knows when the node
//! listens — and, after a binary upgrade, which process is now the main one.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `READY=1` and `MAINPID=<this process>` to `$NOTIFY_SOCKET`, when it is set.
pub fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let address = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let message = format!("READY=1\nMAINPID={}\n", std::process::id());
    let sent = address
        .and_then(|address| UnixDatagram::unbound()?.send_to_addr(message.as_bytes(), &address));
    if let Err(e) = sent {
        tracing::warn!(socket = %path, error = %e, "cannot notify the service manager");
    }
}
