//! The local-origin server: `files` origins and origin-request generated responses, served on a
//! private Unix socket.
//!
//! Pingora's cache stores what comes back from an upstream. On behaviors with a cache policy,
//! responses the node produces itself must be stored too (CloudFront caches S3 objects and
//! origin-request generated responses), so on a miss the pipeline fetches them from this
//! server as from any origin; origin-response, the store and viewer-response then run as for a
//! remote origin. Behaviors without a cache policy skip the hop and answer in process.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::StatusCode;
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::forwarding::REQUEST_ID;
use super::respond;
use crate::node::Node;
use crate::origins::{LocalResponse, OriginHandle};

/// Request header naming the `files` origin to serve: `<generation> <origin name>`.
pub const LOCAL_ORIGIN: &str = "x-edge-local-origin";
/// Request header naming a held generated response (by request id).
pub const LOCAL_RESPONSE: &str = "x-edge-local-response";

/// What the pipeline and the local-origin server share.
pub struct LocalOrigins {
    socket: PathBuf,
    held: Mutex<HashMap<String, LocalResponse>>,
}

impl LocalOrigins {
    /// Local origins on a socket in a fresh directory only this user can enter (made even
    /// when no behavior caches yet: a reload may add one). Directories left by earlier
    /// processes that have exited are removed first: Pingora ends the process without running
    /// destructors, so each run clears up after the previous ones.
    pub fn new() -> std::io::Result<Self> {
        let tmp = std::env::temp_dir();
        let dir = tmp.join(format!("edge-proxy-{}", std::process::id()));
        remove_stale_dirs(&tmp);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(LocalOrigins {
            socket: dir.join("local-origin.sock"),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// The socket path the server listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A peer for the local-origin server.
    pub fn peer(&self) -> Result<Box<HttpPeer>> {
        let path = self.socket.to_string_lossy();
        Ok(Box::new(HttpPeer::new_uds(&path, false, String::new())?))
    }

    /// Keeps a generated response until the local-origin server serves it.
    pub fn hold(&self, request_id: &str, response: LocalResponse) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id.to_string(), response);
    }

    /// Drops a held response the request did not fetch (it failed before).
    pub fn release(&self, request_id: &str) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(request_id);
    }

    fn take(&self, request_id: &str) -> Option<LocalResponse> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(request_id)
    }
}

/// Removes `edge-proxy-<pid>` directories in `tmp` whose process no longer runs.
fn remove_stale_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("edge-proxy-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Serves [`LocalOrigins`] to the pipeline.
pub struct LocalOriginServer {
    local: Arc<LocalOrigins>,
    node: Arc<Node>,
}

impl LocalOriginServer {
    /// A server for `local`.
    /// A server for `local`, finding `files` origins in `node`'s generations.
    pub fn new(local: Arc<LocalOrigins>, node: Arc<Node>) -> Self {
        LocalOriginServer { local, node }
    }
}

#[async_trait]
impl ProxyHttp for LocalOriginServer {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        let req = session.req_header();
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header(REQUEST_ID).unwrap_or_default();
        let response = if let Some(id) = header(LOCAL_RESPONSE) {
            self.local.take(&id)
        } else if let Some(route) = header(LOCAL_ORIGIN) {
            // The generation the request started on: a reload in between changes nothing.
            let generation = route
                .split_once(' ')
                .and_then(|(number, name)| Some((number.parse().ok()?, name)))
                .and_then(|(number, name)| Some((self.node.generation(number)?, name)));
            match generation {
                Some((generation, name)) => match generation.origins.handle(name) {
                    Some(OriginHandle::Files(bucket)) => Some(bucket.respond(req).await),
                    _ => None,
                },
                None => None,
            }
        } else {
            None
        };
        match response {
            Some(r) => respond::local(session, &request_id, r).await?,
            // Only the pipeline talks to this server, so this is a bug or a race (a held
            // response released first): never a response to store.
            None => {
                respond::uncacheable_text(
                    session,
                    StatusCode::BAD_GATEWAY,
                    "no such local origin or held response",
                    &request_id,
                )
                .await?
            }
        }
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Error::e_explain(
            ErrorType::InternalError,
            "the local-origin server answers every request itself",
        )
    }
}
