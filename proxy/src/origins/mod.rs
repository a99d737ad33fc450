//! Origins: where a behavior's requests are answered.

mod files;
mod function;
mod http;

use std::collections::HashMap;

pub use self::http::{HttpUpstream, UpstreamError};
pub use files::{FileBody, FileResponse, FilesBucket};
pub use function::{TargetError, TargetGroup};

use crate::config::{Config, Origin};
use crate::hooks::HookRegistry;

/// An origin's active health checks: a task that runs until its watch turns `true`.
pub type HealthChecks =
    std::sync::Arc<dyn pingora::services::background::BackgroundService + Send + Sync>;

/// A configured origin, ready to serve.
pub enum OriginHandle {
    /// Proxied to upstream servers.
    Http(HttpUpstream),
    /// Answered from a local directory.
    Files(FilesBucket),
    /// Answered by a function through the ALB translation.
    Function(TargetGroup),
}

/// Builds every origin named in `config`, with the health checks they need run.
pub fn build(
    config: &Config,
    hooks: &HookRegistry,
) -> anyhow::Result<(HashMap<String, OriginHandle>, Vec<HealthChecks>)> {
    let mut origins = HashMap::new();
    let mut services = Vec::new();
    for (name, origin) in &config.origins {
        let handle = match origin {
            Origin::Http(h) => {
                let (upstream, service) = HttpUpstream::new(name, h)
                    .map_err(|e| anyhow::anyhow!("origin \"{name}\": {e}"))?;
                services.extend(service);
                OriginHandle::Http(upstream)
            }
            Origin::Function(f) => OriginHandle::Function(TargetGroup::new(name, f, hooks)?),
            Origin::Files(f) => OriginHandle::Files(
                FilesBucket::new(f)
                    .map_err(|e| anyhow::anyhow!("origin \"{name}\": {}: {e}", f.root.display()))?,
            ),
        };
        origins.insert(name.clone(), handle);
    }
    Ok((origins, services))
}
