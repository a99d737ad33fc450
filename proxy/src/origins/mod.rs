//! Origins: where a behavior's requests are answered.

mod files;
mod http;
mod shown;
mod table;
mod target_group;

use std::sync::Arc;

pub use self::http::{HttpUpstream, UpstreamError};
pub use files::{FilesBucket, LocalBody, LocalResponse};
pub use table::{ConfiguredOrigin, OriginId, OriginTable};
pub use target_group::{EventAttempt, TargetError, TargetGroup};

use crate::config::{Config, Origin};
use crate::hooks::HookRegistry;

/// An origin's active health checks: a task that runs until its watch turns `true`.
pub type HealthChecks =
    std::sync::Arc<dyn pingora::services::background::BackgroundService + Send + Sync>;

/// A configured origin, ready to serve.
pub enum OriginHandle {
    /// Proxied to upstream servers (shared with the next generation when unchanged).
    Http(Arc<HttpUpstream>),
    /// Answered from a local directory.
    Files(FilesBucket),
    /// Answered by a function through the ALB translation.
    Function(TargetGroup),
}

/// Builds every origin named in `config`. An `http` origin whose settings are the same in
/// `previous` (the generation in service) is carried over with its learned health.
pub fn build(
    config: &Config,
    hooks: &HookRegistry,
    previous: Option<&OriginTable>,
) -> anyhow::Result<OriginTable> {
    let mut origins = OriginTable::default();
    for (name, origin) in &config.origins {
        let handle = match origin {
            Origin::Http(h) => {
                let carried = match previous.and_then(|p| p.handle(name)) {
                    Some(OriginHandle::Http(old)) if old.config() == h => Some(old.clone()),
                    _ => None,
                };
                match carried {
                    Some(old) => OriginHandle::Http(old),
                    None => OriginHandle::Http(Arc::new(
                        HttpUpstream::new(name, h)
                            .map_err(|e| anyhow::anyhow!("origin \"{name}\": {e}"))?,
                    )),
                }
            }
            Origin::Function(f) => OriginHandle::Function(TargetGroup::new(name, f, hooks)?),
            Origin::Files(f) => OriginHandle::Files(
                FilesBucket::new(f)
                    .map_err(|e| anyhow::anyhow!("origin \"{name}\": {}: {e}", f.root.display()))?,
            ),
        };
        let shown = shown::presentation(name, &handle);
        origins.add(name, handle, shown);
    }
    Ok(origins)
}
