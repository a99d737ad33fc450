//! Every configured function, compiled on one engine. A reload builds a new registry from the
//! previous one: functions with the same settings and module bytes are carried over with their
//! warm environments; only the others are compiled (or loaded from the compiled cache).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::Engine;

use super::bindings::Hook;
use super::bounded_lists;
use super::budgets::NodeBudgets;
use super::compiled::CompiledCache;
use super::engine::{self, EngineSizing};
use super::epoch::EpochTicker;
use super::function::{HookFunction, Linkers};
use super::prepared;
use super::state::HookState;
use super::sync_wasi;
use crate::config::{FunctionConfig, HookNodeSettings, Isolation};

/// The engine and linkers functions are compiled and instantiated with.
struct Runtime {
    engine: Engine,
    ticker: Arc<EpochTicker>,
    linkers: Linkers,
    sizing: EngineSizing,
}

/// The functions, by name.
pub struct HookRegistry {
    runtime: Option<Arc<Runtime>>,
    /// Ordered, not hashed: every hook call finds its function here, and comparing a few short
    /// names costs a fraction of hashing one with SipHash.
    functions: BTreeMap<String, Arc<HookFunction>>,
    /// SHA-256 of each function's module, by function name (sorted, for the config hash).
    digests: BTreeMap<String, [u8; 32]>,
    /// What every function shares, made by the first registry and passed on by reloads.
    budgets: Arc<NodeBudgets>,
}

/// What building a registry did with each function.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RegistryChanges {
    /// Carried over with their warm environments.
    pub kept: Vec<String>,
    /// Compiled or loaded anew (new, or changed module or settings).
    pub loaded: Vec<String>,
}

impl HookRegistry {
    /// Compiles every function, with the default slow lane and no node-wide memory budget.
    /// Fails with the function's name and module path when one does not load.
    pub fn load(functions: &[FunctionConfig]) -> anyhow::Result<Self> {
        Self::build(functions, &HookNodeSettings::default(), None, None)
            .map(|(registry, _)| registry)
    }

    /// Builds the registry for `functions`, reusing what `previous` already has: the shared
    /// budgets (else made from `node`), the engine when every function fits its sizing, and
    /// each function whose settings and module bytes are unchanged. Compiled components come
    /// from `cache` when it has them.
    pub fn build(
        functions: &[FunctionConfig],
        node: &HookNodeSettings,
        previous: Option<&HookRegistry>,
        cache: Option<&CompiledCache>,
    ) -> anyhow::Result<(Self, RegistryChanges)> {
        let mut changes = RegistryChanges::default();
        let budgets = match previous {
            Some(p) => p.budgets.clone(),
            None => Arc::new(
                NodeBudgets::new(node)
                    .map_err(|e| anyhow::anyhow!("starting the hooks' slow lane: {e}"))?,
            ),
        };
        if functions.is_empty() {
            return Ok((
                HookRegistry {
                    runtime: previous.and_then(|p| p.runtime.clone()),
                    functions: BTreeMap::new(),
                    digests: BTreeMap::new(),
                    budgets,
                },
                changes,
            ));
        }
        let sizing = EngineSizing {
            // Each function's concurrency, and for per-request functions the environments
            // prepared ahead and those waiting to be torn down.
            instances: functions
                .iter()
                .map(|f| match f.isolation {
                    Isolation::Warm => f.max_concurrency as u32,
                    Isolation::PerRequest => f.max_concurrency as u32 + 2 * prepared::READY as u32,
                })
                .sum::<u32>()
                .min(1000)
                + 4,
            max_memory_bytes: functions
                .iter()
                .map(|f| (f.memory_mb as usize) << 20)
                .max()
                .unwrap_or(128 << 20),
        };
        let reused = previous
            .and_then(|p| p.runtime.as_ref())
            .filter(|r| r.sizing.fits(&sizing))
            .cloned();
        let runtime = match reused {
            Some(r) => r,
            None => Arc::new(runtime(sizing)?),
        };
        let mut map = BTreeMap::new();
        let mut digests = BTreeMap::new();
        for f in functions {
            let bytes = std::fs::read(&f.module).map_err(|e| {
                anyhow::anyhow!("function \"{}\": {}: {e}", f.name, f.module.display())
            })?;
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            digests.insert(f.name.clone(), digest);
            let carried = previous
                .filter(|p| p.runtime.as_ref().is_some_and(|r| Arc::ptr_eq(r, &runtime)))
                .and_then(|p| p.functions.get(&f.name))
                .filter(|old| old.config() == f && old.digest() == &digest);
            let function = match carried {
                Some(old) => {
                    changes.kept.push(f.name.clone());
                    old.clone()
                }
                None => {
                    changes.loaded.push(f.name.clone());
                    let component =
                        compile(&runtime.engine, &bytes, &digest, cache).map_err(|e| {
                            anyhow::anyhow!(
                                "function \"{}\": {}: {e:#}",
                                f.name,
                                f.module.display()
                            )
                        })?;
                    HookFunction::load(
                        &runtime.linkers,
                        runtime.ticker.clone(),
                        &component,
                        f.clone(),
                        digest,
                        budgets.clone(),
                    )?
                }
            };
            map.insert(f.name.clone(), function);
        }
        Ok((
            HookRegistry {
                runtime: Some(runtime),
                functions: map,
                digests,
                budgets,
            },
            changes,
        ))
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<HookFunction>> {
        self.functions.get(name)
    }

    /// What every function on the node shares (for metrics).
    pub fn budgets(&self) -> &NodeBudgets {
        &self.budgets
    }

    /// Each function's module SHA-256, by name in order.
    pub fn digests(&self) -> &BTreeMap<String, [u8; 32]> {
        &self.digests
    }
}

fn runtime(sizing: EngineSizing) -> anyhow::Result<Runtime> {
    let (engine, ticker) =
        engine::build(&sizing).map_err(|e| anyhow::anyhow!("wasm engine: {e:#}"))?;
    let linkers = linkers(&engine).map_err(|e| anyhow::anyhow!("linking WASI: {e:#}"))?;
    Ok(Runtime {
        engine,
        ticker,
        linkers,
        sizing,
    })
}

/// The asynchronous linker (all of WASI) and the synchronous one (`sync_wasi`), each with the
/// hook contract.
fn linkers(engine: &Engine) -> wasmtime::Result<Linkers> {
    let mut linker = Linker::<HookState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let mut synchronous = Linker::<HookState>::new(engine);
    sync_wasi::add_to_linker(&mut synchronous)?;
    for l in [&mut linker, &mut synchronous] {
        Hook::add_to_linker::<_, HasSelf<HookState>>(l, |s| s)?;
        bounded_lists::add_to_linker(l)?;
    }
    Ok(Linkers {
        asynchronous: linker,
        synchronous,
    })
}

fn compile(
    engine: &Engine,
    bytes: &[u8],
    digest: &[u8; 32],
    cache: Option<&CompiledCache>,
) -> wasmtime::Result<Component> {
    match cache {
        Some(cache) => cache.component(engine, bytes, digest),
        None => Component::new(engine, bytes),
    }
}

/// Opens the compiled-component cache at `dir`, if one is configured and usable.
pub fn compiled_cache(dir: Option<&Path>) -> Option<CompiledCache> {
    dir.and_then(CompiledCache::open)
}
