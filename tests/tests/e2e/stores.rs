//! The event queue's two stores, for tests that run once on each: SQLite in a temporary
//! directory, and a real `nats-server` with JetStream.

use std::time::{Duration, Instant};

use crate::support::free_port;

/// Where a test's queue lives.
pub enum Store {
    /// An SQLite database in this directory.
    Sqlite(tempfile::TempDir),
    /// A `nats-server -js` of the test's own (killed on drop), and its port.
    Nats(NatsServer),
}

/// A `nats-server` with JetStream on a free port, storing in a temporary directory.
pub struct NatsServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Store {
    pub fn sqlite() -> Store {
        Store::Sqlite(tempfile::tempdir().unwrap())
    }

    /// Starts `nats-server` (installed by `scripts/setup.sh`): a missing one fails the test.
    pub fn nats() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = std::process::Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server (scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Store::Nats(NatsServer {
            child,
            port,
            _dir: dir,
        })
    }

    /// The `[queue]` keys that select this store.
    pub fn settings(&self) -> String {
        match self {
            Store::Sqlite(dir) => format!("data-dir = \"{}\"", dir.path().display()),
            Store::Nats(server) => format!(
                "backend = \"nats\"\nnats-url = \"nats://127.0.0.1:{}\"\nack-wait-ms = 1000",
                server.port
            ),
        }
    }
}

/// Runs test body `$name(store)` once on each store.
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::stores::Store::sqlite()).await
            }

            #[tokio::test]
            async fn nats() {
                super::$name($crate::stores::Store::nats()).await
            }
        }
    };
}
