//! [`Generation`]: one loaded configuration and everything built from it. Requests hold the
//! generation they started on until they end, so a reload never changes a request midway.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::NodeHeaders;
use crate::config::{Behavior, Config};
use crate::hooks::{hex, CompiledCache, HookRegistry, RegistryChanges};
use crate::observe::RequestMeters;
use crate::origins::{OriginHandle, OriginId, OriginTable};

/// A configuration in service.
pub struct Generation {
    /// 1 for the configuration the process started with, one more for each reload.
    pub number: u64,
    /// SHA-256 of the configuration file and every module it names.
    pub hash: String,
    /// The configuration.
    pub config: Config,
    /// Its origins.
    pub origins: OriginTable,
    /// Its functions.
    pub hooks: Arc<HookRegistry>,
    /// `Via` and `CDN-Loop` values naming this node.
    pub node_headers: NodeHeaders,
    /// The node's distribution domain name and id as every hook event's config shows them.
    pub event_names: EventNames,
    /// Each behavior's request series, by behavior index; the last for requests that matched
    /// none.
    request_meters: Vec<RequestMeters>,
    /// Each behavior's origin, by behavior index.
    behavior_origins: Vec<OriginId>,
}

/// The distribution's names in a hook event's `config`, made once per generation and shared
/// by every event.
pub struct EventNames {
    /// `distributionDomainName`.
    pub domain_name: Arc<str>,
    /// `distributionId`: the node's name.
    pub id: Arc<str>,
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
        let (hooks, changes) = HookRegistry::build(
            &config.functions,
            &config.node.hooks,
            previous.map(|p| &*p.hooks),
            cache,
        )?;
        let hooks = Arc::new(hooks);
        let origins = crate::origins::build(&config, &hooks, previous.map(|p| &p.origins))?;
        let behavior_origins = config
            .behaviors
            .iter()
            .map(|b| {
                origins.id(&b.origin).ok_or_else(|| {
                    anyhow::anyhow!(
                        "behavior {}: origin \"{}\" is not configured",
                        b.name,
                        b.origin
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let mut digest = Sha256::new();
        digest.update(text);
        for (name, module) in hooks.digests() {
            digest.update(name.as_bytes());
            digest.update([0]);
            digest.update(module);
        }
        Ok((
            Generation {
                number,
                hash: hex(&digest.finalize()),
                node_headers: NodeHeaders::new(&config.node.name),
                event_names: EventNames {
                    domain_name: config.node.distribution_domain_name.as_str().into(),
                    id: config.node.name.as_str().into(),
                },
                request_meters: (0..=config.behaviors.len())
                    .map(|_| RequestMeters::default())
                    .collect(),
                behavior_origins,
                config,
                origins,
                hooks,
            },
            changes,
        ))
    }

    /// Runs the origins' health checks on the current Tokio runtime (those carried over from
    /// the previous generation already run); each origin's end when it is dropped.
    pub fn start_health_checks(&self) {
        for origin in self.origins.iter() {
            if let OriginHandle::Http(upstream) = &origin.handle {
                upstream.start_health_checks();
            }
        }
    }

    /// The behavior at `index` (a request's matched behavior).
    pub fn behavior(&self, index: Option<usize>) -> Option<&Behavior> {
        index.map(|i| &self.config.behaviors[i])
    }

    /// The origin of the behavior at `index` (a request's matched behavior).
    pub fn behavior_origin(&self, index: usize) -> OriginId {
        self.behavior_origins[index]
    }

    /// The request series of the behavior at `index` (a request's matched behavior, if any).
    pub fn request_meters(&self, index: Option<usize>) -> &RequestMeters {
        &self.request_meters[index.unwrap_or(self.config.behaviors.len())]
    }
}
