//! One configured function and its execution environments, as Lambda keeps them: warm instances
//! reused across invocations (module state persists), cold starts when none is free, never reuse
//! after a trap or timeout, recycling after N invocations or idle time, and throttling beyond
//! `max-concurrency`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::{Hook, HookPre};
use super::error::HookError;
use super::state::HookState;
use super::{convert, limits, validate};
use crate::config::{FunctionConfig, Isolation};
use crate::events::{CfEvent, EventType, HeaderList, HookOutcome};

/// A warm execution environment.
struct Environment {
    store: Store<HookState>,
    hook: Hook,
    invocations: u64,
    last_used: Instant,
}

/// What one invocation cost, for the `REPORT` line and metrics.
#[derive(Debug, Clone)]
pub struct Report {
    /// Time in the handler.
    pub duration: Duration,
    /// Time to create the instance, on a cold start.
    pub init: Option<Duration>,
    /// Configured memory, MB.
    pub memory_mb: u64,
    /// Largest memory the instance has asked for, MB.
    pub max_memory_used_mb: u64,
}

/// A compiled function with its pool of environments.
pub struct HookFunction {
    config: FunctionConfig,
    pre: HookPre<HookState>,
    idle: Mutex<Vec<Environment>>,
    permits: Arc<Semaphore>,
}

impl HookFunction {
    /// Compiles the function's component (once, at start).
    pub fn load(
        engine: &Engine,
        linker: &Linker<HookState>,
        config: FunctionConfig,
    ) -> anyhow::Result<Self> {
        let component = Component::from_file(engine, &config.module).map_err(|e| {
            anyhow::anyhow!(
                "function \"{}\": {}: {e:#}",
                config.name,
                config.module.display()
            )
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(HookPre::new)
            .map_err(|e| {
                anyhow::anyhow!(
                    "function \"{}\": {} does not fit the edge:hooks contract: {e:#}",
                    config.name,
                    config.module.display()
                )
            })?;
        Ok(HookFunction {
            permits: Arc::new(Semaphore::new(config.max_concurrency)),
            config,
            pre,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Runs the function on `event`, returning the validated outcome and what it cost.
    pub async fn invoke(
        &self,
        event: &CfEvent,
    ) -> (Result<HookOutcome, HookError>, Option<Report>) {
        let et = event.config.event_type;
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            return (
                Err(HookError::Throttled {
                    function: self.config.name.clone(),
                    event_type: et,
                    limit: self.config.max_concurrency,
                }),
                None,
            );
        };
        let (mut env, init) = match self.take_idle() {
            Some(env) => (env, None),
            None => {
                let started = Instant::now();
                match self.cold_start().await {
                    Ok(env) => (env, Some(started.elapsed())),
                    Err(reason) => return (Err(self.trap(et, reason)), None),
                }
            }
        };

        let visible = without_disallowed(event);
        let state = env.store.data_mut();
        state.generation += 1;
        state.header_maps.clear();
        let wit_event = match convert::event_to_wit(state, &visible) {
            Ok(e) => e,
            Err(e) => return (Err(self.trap(et, format!("{e:#}"))), None),
        };
        let timeout = Duration::from_millis(self.timeout_ms(et));
        env.store.set_epoch_deadline(1);
        env.store.epoch_deadline_async_yield_and_update(1);

        let started = Instant::now();
        let result =
            tokio::time::timeout(timeout, env.hook.call_handle(&mut env.store, &wit_event)).await;
        let duration = started.elapsed();
        self.log_output(&env, &event.config.request_id);
        let report = Report {
            duration,
            init,
            memory_mb: self.config.memory_mb,
            max_memory_used_mb: (env.store.data().limiter.peak as u64).div_ceil(1 << 20),
        };

        let outcome = match result {
            // The instance stopped mid-call: it is never reused.
            Err(_) => Err(HookError::Timeout {
                function: self.config.name.clone(),
                event_type: et,
                timeout_ms: self.timeout_ms(et),
            }),
            Ok(Err(trap)) => Err(self.trap(et, trap_reason(&trap))),
            Ok(Ok(returned)) => {
                let outcome = match returned {
                    Err(message) => Err(HookError::FunctionError {
                        function: self.config.name.clone(),
                        event_type: et,
                        message,
                    }),
                    Ok(o) => convert::outcome_from_wit(env.store.data_mut(), &visible, o)
                        .and_then(|o| validate::validate(&visible, o))
                        .map_err(|reason| HookError::Invalid {
                            function: self.config.name.clone(),
                            event_type: et,
                            reason,
                        }),
                };
                env.store.data_mut().header_maps.clear();
                self.release(env);
                outcome
            }
        };
        (outcome, Some(report))
    }

    fn timeout_ms(&self, et: EventType) -> u64 {
        self.config
            .timeout_ms
            .unwrap_or_else(|| limits::default_timeout_ms(et))
    }

    fn trap(&self, et: EventType, reason: String) -> HookError {
        HookError::Trap {
            function: self.config.name.clone(),
            event_type: et,
            reason,
        }
    }

    /// A warm environment that is neither expired nor used up, if any.
    fn take_idle(&self) -> Option<Environment> {
        if self.config.isolation == Isolation::PerRequest {
            return None;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        let now = Instant::now();
        idle.retain(|e| now.duration_since(e.last_used) < self.config.idle_timeout);
        idle.pop()
    }

    /// Puts a healthy environment back, unless isolation or recycling says otherwise.
    fn release(&self, mut env: Environment) {
        env.invocations += 1;
        env.last_used = Instant::now();
        if self.config.isolation == Isolation::PerRequest
            || env.invocations >= self.config.max_invocations
        {
            return;
        }
        self.idle.lock().expect("pool lock").push(env);
    }

    async fn cold_start(&self) -> Result<Environment, String> {
        let state = HookState::new(&self.config.env, (self.config.memory_mb as usize) << 20);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let timeout = Duration::from_millis(
            self.config
                .timeout_ms
                .unwrap_or(limits::default_timeout_ms(EventType::OriginRequest)),
        );
        let hook = tokio::time::timeout(timeout, self.pre.instantiate_async(&mut store))
            .await
            .map_err(|_| format!("initialization timed out after {} ms", timeout.as_millis()))?
            .map_err(|e| format!("initialization failed: {}", trap_reason(&e)))?;
        Ok(Environment {
            store,
            hook,
            invocations: 0,
            last_used: Instant::now(),
        })
    }

    /// Writes what the guest printed to the log, a line at a time, with function and request id.
    fn log_output(&self, env: &Environment, request_id: &str) {
        let output = env.store.data().output.take();
        if output.is_empty() {
            return;
        }
        for line in String::from_utf8_lossy(&output).lines() {
            tracing::info!(target: "edge_proxy::hook_output", function = %self.config.name, request_id, "{line}");
        }
    }
}

/// One line saying why a call trapped: the trap code, or the host error that stopped it (such
/// as the memory limit).
fn trap_reason(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("trapped: {trap}"),
        None => format!("{}", e.root_cause())
            .lines()
            .next()
            .unwrap_or("trapped")
            .to_string(),
    }
}

/// The event as the function may see it: disallowed headers removed (CloudFront does not expose
/// them).
fn without_disallowed(event: &CfEvent) -> CfEvent {
    let strip = |list: &HeaderList| {
        let mut out = HeaderList::new();
        for l in list.iter().filter(|l| !limits::is_disallowed(&l.name)) {
            out.append(&l.name, &l.key, &l.value);
        }
        out
    };
    let mut visible = event.clone();
    visible.request.headers = strip(&event.request.headers);
    if let Some(r) = &mut visible.response {
        r.headers = strip(&r.headers);
    }
    visible
}
