//! [`Generation`]: one loaded configuration and everything built from it. Requests hold the
//! generation they started on until they end, so a reload never changes a request midway.

use std::collections::HashMap;
use std::sync::Arc;

use pingora::server::ShutdownWatch;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::{Behavior, Config};
use crate::edge::NodeHeaders;
use crate::hooks::{hex, CompiledCache, HookRegistry, RegistryChanges};
use crate::origins::{HealthChecks, OriginHandle};

/// A configuration in service.
pub struct Generation {
    /// 1 for the configuration the process started with, one more for each reload.
    pub number: u64,
    /// SHA-256 of the configuration file and every module it names.
    pub hash: String,
    /// The configuration.
    pub config: Config,
    /// Its origins, by name.
    pub origins: HashMap<String, OriginHandle>,
    /// Its functions.
    pub hooks: Arc<HookRegistry>,
    /// `Via` and `CDN-Loop` values naming this node.
    pub node_headers: NodeHeaders,
    health_checks: Vec<HealthChecks>,
    /// Ends the health checks when the generation is dropped.
    retire: watch::Sender<bool>,
}

impl Generation {
    /// Builds generation `number` from `config`: every module read and compiled (or carried
    /// over from `previous` when unchanged), every origin set up. Health checks start only
    /// with [`Generation::start_health_checks`].
    pub fn build(
        number: u64,
        config: Config,
        text: &[u8],
        previous: Option<&Generation>,
        cache: Option<&CompiledCache>,
    ) -> anyhow::Result<(Self, RegistryChanges)> {
        let (hooks, changes) =
            HookRegistry::build(&config.functions, previous.map(|p| &*p.hooks), cache)?;
        let hooks = Arc::new(hooks);
        let (origins, health_checks) = crate::origins::build(&config, &hooks)?;
        let mut digest = Sha256::new();
        digest.update(text);
        for (name, module) in hooks.digests() {
            digest.update(name.as_bytes());
            digest.update([0]);
            digest.update(module);
        }
        let (retire, _) = watch::channel(false);
        Ok((
            Generation {
                number,
                hash: hex(&digest.finalize()),
                node_headers: NodeHeaders::new(&config.node.name),
                config,
                origins,
                hooks,
                health_checks,
                retire,
            },
            changes,
        ))
    }

    /// Runs the origins' health checks on the current Tokio runtime until the generation is
    /// dropped.
    pub fn start_health_checks(&self) {
        for checks in &self.health_checks {
            let checks = checks.clone();
            let until: ShutdownWatch = self.retire.subscribe();
            tokio::spawn(async move { checks.start(until).await });
        }
    }

    /// The behavior at `index` (a request's matched behavior).
    pub fn behavior(&self, index: Option<usize>) -> Option<&Behavior> {
        index.map(|i| &self.config.behaviors[i])
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        let _ = self.retire.send(true);
    }
}
