//! Every configured function, compiled once at start on one engine.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::Hook;
use super::engine::{self, EngineSizing};
use super::function::HookFunction;
use super::state::HookState;
use crate::config::FunctionConfig;

/// The functions, by name.
pub struct HookRegistry {
    functions: HashMap<String, Arc<HookFunction>>,
}

impl HookRegistry {
    /// Compiles every function. Fails with the function's name and module path when one does
    /// not load.
    pub fn load(functions: &[FunctionConfig]) -> anyhow::Result<Self> {
        if functions.is_empty() {
            return Ok(HookRegistry {
                functions: HashMap::new(),
            });
        }
        let sizing = EngineSizing {
            instances: functions
                .iter()
                .map(|f| f.max_concurrency as u32)
                .sum::<u32>()
                .min(1000)
                + 4,
            max_memory_bytes: functions
                .iter()
                .map(|f| (f.memory_mb as usize) << 20)
                .max()
                .unwrap_or(128 << 20),
        };
        let engine = engine::build(&sizing).map_err(|e| anyhow::anyhow!("wasm engine: {e:#}"))?;
        let mut linker = Linker::<HookState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Hook::add_to_linker::<_, HasSelf<HookState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut map = HashMap::new();
        for f in functions {
            map.insert(
                f.name.clone(),
                Arc::new(HookFunction::load(&engine, &linker, f.clone())?),
            );
        }
        Ok(HookRegistry { functions: map })
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<HookFunction>> {
        self.functions.get(name)
    }
}
