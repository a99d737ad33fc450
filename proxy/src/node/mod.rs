//! The running node: the configuration generation in service, reloads, and the process's life
//! (signals, graceful shutdown, upgrade, watch mode).
//!
//! A reload reads the file and every module again, validates them as `check` does, compiles
//! what changed and swaps the new [`Generation`] in atomically. Requests hold the generation
//! they started on; new requests take the new one. A reload that fails changes nothing.

mod drain;
mod generation;
mod identity;
mod notify;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

pub use drain::Drain;
pub use generation::Generation;
pub use identity::NodeHeaders;
pub use notify::notify_ready;
pub use watch::watch;

use crate::config::{restart_only_changes, Config, ConfigError};
use crate::hooks::{compiled_cache, CompiledCache};
use crate::observe::Metrics;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not validate (the same messages as `check`).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Settings changed that only a restart or binary upgrade applies.
    #[error("{}", restart_lines(file, changes))]
    NeedsRestart {
        /// The configuration file.
        file: PathBuf,
        /// `key: why` of each such setting.
        changes: Vec<String>,
    },
    /// A module does not read or compile, or an origin cannot be set up.
    #[error("{}: {reason:#}", file.display())]
    Build {
        /// The configuration file.
        file: PathBuf,
        /// What failed, naming the function or origin.
        reason: anyhow::Error,
    },
}

fn restart_lines(file: &Path, changes: &[String]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {c}; restart or upgrade the binary to apply it",
                file.display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a successful reload did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The generation now in service.
    pub generation: u64,
    /// Its hash.
    pub hash: String,
    /// Functions carried over with their warm environments.
    pub kept: Vec<String>,
    /// Functions compiled or loaded anew.
    pub loaded: Vec<String>,
    /// Earlier generations still held by requests in flight when the reload happened.
    pub draining: usize,
}

/// The node's configuration over time.
pub struct Node {
    conf: PathBuf,
    current: ArcSwap<Generation>,
    /// Earlier generations some request may still hold (the local-origin hop looks them up).
    retired: Mutex<Vec<Weak<Generation>>>,
    /// One reload at a time.
    reloading: Mutex<()>,
    module_cache: Option<CompiledCache>,
    metrics: Arc<Metrics>,
    /// Runs every generation's health checks, SIGHUP and the local-origin server.
    runtime: tokio::runtime::Runtime,
}

impl Node {
    /// Builds generation 1 from `config` (loaded from `conf`) and starts its health checks.
    pub fn start(conf: &Path, config: Config, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let text = std::fs::read(conf)
            .map_err(|e| anyhow::anyhow!("{}: cannot read file: {e}", conf.display()))?;
        let module_cache = compiled_cache(config.node.module_cache.as_deref());
        let config_threads = config.node.worker_threads;
        let (first, _) = Generation::build(1, config, &text, None, module_cache.as_ref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config_threads)
            .thread_name("edge-node")
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("starting the node runtime: {e}"))?;
        {
            let _in = runtime.enter();
            first.start_health_checks();
        }
        metrics.observe_generation(1, &first.hash);
        Ok(Node {
            conf: conf.to_path_buf(),
            current: ArcSwap::from_pointee(first),
            retired: Mutex::new(Vec::new()),
            reloading: Mutex::new(()),
            module_cache,
            metrics,
            runtime,
        })
    }

    /// Reloads on every SIGHUP. The handler is installed now, before the listeners open, so a
    /// SIGHUP never finds the process with the default action (which ends it).
    pub fn reload_on_sighup(self: &Arc<Self>) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let _in = self.runtime.enter();
        let mut hangups = signal(SignalKind::hangup())?;
        let node = Arc::downgrade(self);
        self.runtime.spawn(async move {
            while hangups.recv().await.is_some() {
                let Some(node) = node.upgrade() else { return };
                tracing::info!("SIGHUP: reloading");
                // The outcome is logged and counted by `reload`.
                let _ = tokio::task::spawn_blocking(move || node.reload()).await;
            }
        });
        Ok(())
    }

    /// Runs `service` on the node's runtime until the process exits, outside Pingora's shutdown
    /// broadcast: the local-origin server must keep answering while requests that started
    /// before a SIGTERM finish in the grace period.
    pub fn serve_until_exit<S: pingora::services::Service + 'static>(&self, mut service: S) {
        let (keep, never) = tokio::sync::watch::channel(false);
        self.runtime.spawn(async move {
            let _keep = keep;
            service.start_service(None, never, 1).await;
        });
    }

    /// The configuration file.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The generation new requests start on.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Generation `number`, while some request still holds it.
    pub fn generation(&self, number: u64) -> Option<Arc<Generation>> {
        let current = self.current.load_full();
        if current.number == number {
            return Some(current);
        }
        let retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
        retired
            .iter()
            .filter_map(Weak::upgrade)
            .find(|g| g.number == number)
    }

    /// Reads the configuration file and its modules again and swaps them in, or changes
    /// nothing and says why. Blocks while modules compile: call it off the request threads.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.build_next();
        match &result {
            Ok(r) => {
                self.metrics.config_reloads.with_label_values(&["ok"]).inc();
                tracing::info!(
                    conf = %self.conf.display(),
                    generation = r.generation,
                    hash = %r.hash,
                    kept = ?r.kept,
                    loaded = ?r.loaded,
                    draining = r.draining,
                    "configuration reloaded"
                );
            }
            Err(e) => {
                self.metrics
                    .config_reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(
                    conf = %self.conf.display(),
                    error = %e,
                    "reload failed; the node keeps serving the configuration it had"
                );
            }
        }
        result
    }

    fn build_next(&self) -> Result<Reloaded, ReloadError> {
        let text = std::fs::read(&self.conf).map_err(|e| ConfigError {
            file: self.conf.clone(),
            issues: vec![crate::config::ConfigIssue {
                line: None,
                key: String::new(),
                message: format!("cannot read file: {e}"),
            }],
        })?;
        let config = Config::parse(&self.conf, &String::from_utf8_lossy(&text))?;
        let old = self.current.load_full();
        let restart = restart_only_changes(&old.config, &config);
        if !restart.is_empty() {
            return Err(ReloadError::NeedsRestart {
                file: self.conf.clone(),
                changes: restart,
            });
        }
        let (next, changes) = Generation::build(
            old.number + 1,
            config,
            &text,
            Some(&old),
            self.module_cache.as_ref(),
        )
        .map_err(|reason| ReloadError::Build {
            file: self.conf.clone(),
            reason,
        })?;
        {
            let _in = self.runtime.enter();
            next.start_health_checks();
        }
        let reloaded = Reloaded {
            generation: next.number,
            hash: next.hash.clone(),
            kept: changes.kept,
            loaded: changes.loaded,
            draining: 0,
        };
        self.metrics.observe_generation(next.number, &next.hash);
        let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
        retired.push(Arc::downgrade(&old));
        self.current.store(Arc::new(next));
        drop(old);
        retired.retain(|g| g.strong_count() > 0);
        let draining = retired.len();
        Ok(Reloaded {
            draining,
            ..reloaded
        })
    }
}
