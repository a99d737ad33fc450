//! One configured function and its execution environments, as Lambda keeps them: warm instances
//! reused across invocations (module state persists), cold starts when none is free, never reuse
//! after a trap or timeout, recycling after N invocations or idle time, and throttling beyond
//! `max-concurrency`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::Store;

use super::bindings::lambda_world::{Lambda, LambdaPre};
use super::bindings::{Hook, HookPre};
use super::convert;
use super::error::{HookError, Trigger};
use super::prepared::Prepared;
use super::state::HookState;
use crate::config::{FunctionConfig, Isolation};
use edge_event::{limits, validate, CfEvent, EventType, HeaderEdits, HookOutcome};

/// An execution environment: a store with an instance of the function.
struct Environment {
    store: Store<HookState>,
    exports: Exports,
    invocations: u64,
    last_used: Instant,
}

/// Which contract a component implements.
enum Pre {
    Hook(HookPre<HookState>),
    Lambda(LambdaPre<HookState>),
}

enum Exports {
    Hook(Hook),
    Lambda(Lambda),
}

/// A validated outcome, with what the hook changed in the header map it returned (so the
/// proxy rewrites only those names on the wire).
#[derive(Debug)]
pub struct Validated {
    /// What the hook decided, as CloudFront would act on it.
    pub outcome: HookOutcome,
    /// The header names it changed.
    pub header_edits: HeaderEdits,
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

impl Report {
    /// Lambda's `REPORT` line (`REPORT RequestId: … Duration: … Billed Duration: …`), the one
    /// format the proxy's log and `edge-proxy invoke` both print; without a request id when there
    /// is none to name.
    pub fn line(&self, request_id: Option<&str>) -> String {
        let id = request_id
            .map(|id| format!(" RequestId: {id}"))
            .unwrap_or_default();
        format!(
            "REPORT{id} Duration: {:.3} ms Billed Duration: {} ms Memory Size: {} MB Max Memory Used: {} MB{}",
            self.duration.as_secs_f64() * 1000.0,
            self.duration.as_millis() + 1,
            self.memory_mb,
            self.max_memory_used_mb,
            self.init
                .map(|d| format!(" Init Duration: {:.3} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_default(),
        )
    }
}

/// A compiled function with its pool of environments.
pub struct HookFunction {
    config: FunctionConfig,
    digest: [u8; 32],
    pre: Pre,
    idle: Mutex<Vec<Environment>>,
    /// Fresh environments prepared off the request path (`isolation = "per-request"`).
    prepared: Prepared<Environment>,
    /// Invocations running now (never waited on: beyond `max-concurrency` is a throttle).
    in_flight: AtomicUsize,
    /// This function, for the task that prepares its environments.
    me: Weak<HookFunction>,
}

impl HookFunction {
    /// Prepares `component` (the compiled module of `config`, whose SHA-256 is `digest`) for
    /// instantiation.
    pub fn load(
        linker: &Linker<HookState>,
        component: &Component,
        config: FunctionConfig,
        digest: [u8; 32],
    ) -> anyhow::Result<Arc<Self>> {
        let instance_pre = linker.instantiate_pre(component).map_err(|e| {
            anyhow::anyhow!(
                "function \"{}\": {}: {e:#}",
                config.name,
                config.module.display()
            )
        })?;
        let pre = match HookPre::new(instance_pre.clone()) {
            Ok(p) => Pre::Hook(p),
            Err(hook_err) => Pre::Lambda(LambdaPre::new(instance_pre).map_err(|_| {
                anyhow::anyhow!(
                    "function \"{}\": {} implements neither the edge:hooks `hook` world nor the `lambda` world: {hook_err:#}",
                    config.name,
                    config.module.display()
                )
            })?),
        };
        Ok(Arc::new_cyclic(|me| HookFunction {
            in_flight: AtomicUsize::new(0),
            config,
            digest,
            pre,
            idle: Mutex::new(Vec::new()),
            prepared: Prepared::new(),
            me: me.clone(),
        }))
    }

    /// The settings the function was loaded with.
    pub fn config(&self) -> &FunctionConfig {
        &self.config
    }

    /// SHA-256 of the module the function was compiled from.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Runs the function on `event`, returning the validated outcome and what it cost. The
    /// event's header maps move into the instance's store, so nothing is copied for the guest.
    /// `event` is as the hook sees it, without disallowed headers: the proxy builds events that
    /// way, and events read from JSON go through [`limits::hide_disallowed`] first.
    pub async fn invoke(&self, event: CfEvent) -> (Result<Validated, HookError>, Option<Report>) {
        let et = event.config.event_type;
        let trigger = Trigger::Edge(et);
        let (_permit, mut env, init) = match self.acquire(&trigger).await {
            Ok(acquired) => acquired,
            Err(e) => return (Err(e), None),
        };
        let Exports::Hook(hook) = &env.exports else {
            return (
                Err(self.trap(
                    &trigger,
                    "this is an ALB target function, not a hook".into(),
                )),
                None,
            );
        };
        let state = env.store.data_mut();
        let wit_event = match convert::begin(state, event) {
            Ok(e) => e,
            Err(e) => return (Err(self.trap(&trigger, format!("{e:#}"))), None),
        };
        let timeout = Duration::from_millis(self.timeout_ms(et));
        env.store.set_epoch_deadline(1);
        env.store.epoch_deadline_async_yield_and_update(1);

        let started = Instant::now();
        let result = tokio::time::timeout_at(
            (started + timeout).into(),
            hook.call_handle(&mut env.store, wit_event),
        )
        .await;
        let ended = Instant::now();

        let state = env.store.data_mut();
        let lifted = match result {
            // The instance stopped mid-call: it is never reused.
            Err(_) => Err(HookError::Timeout {
                function: self.config.name.clone(),
                trigger: trigger.clone(),
                timeout_ms: self.timeout_ms(et),
            }),
            Ok(Err(trap)) => Err(self.trap(&trigger, trap_reason(&trap))),
            Ok(Ok(Err(message))) => Err(HookError::FunctionError {
                function: self.config.name.clone(),
                trigger: trigger.clone(),
                message,
            }),
            Ok(Ok(Ok(o))) => Ok(convert::outcome_from_wit(state, o)),
        };
        let Some(event) = convert::end(state) else {
            return (
                Err(self.trap(&trigger, "the invocation lost its event".into())),
                None,
            );
        };
        let report = self.report(&mut env, started, ended, init, &event.config.request_id);
        // Only an instance that finished its call goes back to the pool.
        if matches!(lifted, Ok(_) | Err(HookError::FunctionError { .. })) {
            self.release(env);
        }
        let outcome = lifted.and_then(|lifted| {
            lifted
                .and_then(|(outcome, header_edits)| {
                    validate(event, outcome, &header_edits).map(|outcome| Validated {
                        outcome,
                        header_edits,
                    })
                })
                .map_err(|reason| HookError::Invalid {
                    function: self.config.name.clone(),
                    trigger,
                    reason,
                })
        });
        (outcome, Some(report))
    }

    fn timeout_ms(&self, et: EventType) -> u64 {
        self.config
            .timeout_ms
            .unwrap_or_else(|| limits::default_timeout_ms(et))
    }

    fn trap(&self, trigger: &Trigger, reason: String) -> HookError {
        HookError::Trap {
            function: self.config.name.clone(),
            trigger: trigger.clone(),
            reason,
        }
    }

    /// A concurrency permit and an environment (warm, or cold-started with its init time).
    async fn acquire(
        &self,
        trigger: &Trigger,
    ) -> Result<(InFlight<'_>, Environment, Option<Duration>), HookError> {
        let Some(permit) = InFlight::enter(&self.in_flight, self.config.max_concurrency) else {
            return Err(HookError::Throttled {
                function: self.config.name.clone(),
                trigger: trigger.clone(),
                limit: self.config.max_concurrency,
            });
        };
        if let Some(env) = self.take_idle() {
            return Ok((permit, env, None));
        }
        if self.config.isolation == Isolation::PerRequest {
            let me = self.me.clone();
            self.prepared.start(move || {
                let f = me.upgrade()?;
                Some(async move {
                    let made = f.cold_start().await;
                    if let Err(reason) = &made {
                        tracing::warn!(
                            function = f.name(),
                            "preparing an environment failed: {reason}"
                        );
                    }
                    made
                })
            });
            if let Some(env) = self.prepared.take() {
                return Ok((permit, env, None));
            }
        }
        let started = Instant::now();
        let env = self
            .cold_start()
            .await
            .map_err(|reason| self.trap(trigger, reason))?;
        Ok((permit, env, Some(started.elapsed())))
    }

    /// Logs the guest's output and measures the call from `started` to `ended`, marking the
    /// environment used at `ended`.
    fn report(
        &self,
        env: &mut Environment,
        started: Instant,
        ended: Instant,
        init: Option<Duration>,
        request_id: &str,
    ) -> Report {
        env.last_used = ended;
        let duration = ended - started;
        self.log_output(env, request_id);
        Report {
            duration,
            init,
            memory_mb: self.config.memory_mb,
            max_memory_used_mb: (env.store.data().limiter.peak as u64).div_ceil(1 << 20),
        }
    }

    /// Runs an ALB-style target function (the `lambda` world) on the event JSON of target
    /// group `target_group`, returning the result JSON.
    pub async fn invoke_json(
        &self,
        target_group: &str,
        event: &[u8],
        timeout: Duration,
        request_id: &str,
    ) -> (Result<Vec<u8>, HookError>, Option<Report>) {
        let trigger = Trigger::TargetGroup(target_group.to_string());
        let (_permit, mut env, init) = match self.acquire(&trigger).await {
            Ok(acquired) => acquired,
            Err(e) => return (Err(e), None),
        };
        let Exports::Lambda(function) = &env.exports else {
            return (
                Err(self.trap(
                    &trigger,
                    "this is a hook, not an ALB target function".into(),
                )),
                None,
            );
        };
        env.store.set_epoch_deadline(1);
        env.store.epoch_deadline_async_yield_and_update(1);
        let started = Instant::now();
        let result = tokio::time::timeout_at(
            (started + timeout).into(),
            function.call_invoke(&mut env.store, event),
        )
        .await;
        let report = self.report(&mut env, started, Instant::now(), init, request_id);
        let outcome = match result {
            Err(_) => Err(HookError::Timeout {
                function: self.config.name.clone(),
                trigger,
                timeout_ms: timeout.as_millis() as u64,
            }),
            Ok(Err(trap)) => Err(self.trap(&trigger, trap_reason(&trap))),
            Ok(Ok(returned)) => {
                self.release(env);
                returned.map_err(|message| HookError::FunctionError {
                    function: self.config.name.clone(),
                    trigger,
                    message,
                })
            }
        };
        (outcome, Some(report))
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
        if self.config.isolation == Isolation::PerRequest {
            // Torn down off the request path, where the next fresh one is prepared.
            self.prepared.retire(env);
            return;
        }
        if env.invocations >= self.config.max_invocations {
            return;
        }
        self.idle.lock().expect("pool lock").push(env);
    }

    /// A new environment: a store and an instance, initialized.
    async fn cold_start(&self) -> Result<Environment, String> {
        let state = HookState::new(&self.config.env, (self.config.memory_mb as usize) << 20);
        let engine = match &self.pre {
            Pre::Hook(pre) => pre.engine(),
            Pre::Lambda(pre) => pre.engine(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let timeout = Duration::from_millis(
            self.config
                .timeout_ms
                .unwrap_or(limits::default_timeout_ms(EventType::OriginRequest)),
        );
        let instantiate = async {
            match &self.pre {
                Pre::Hook(pre) => pre
                    .instantiate_prechecked(&mut store)
                    .await
                    .map(Exports::Hook),
                Pre::Lambda(pre) => pre
                    .instantiate_prechecked(&mut store)
                    .await
                    .map(Exports::Lambda),
            }
        };
        let exports = tokio::time::timeout(timeout, instantiate)
            .await
            .map_err(|_| format!("initialization timed out after {} ms", timeout.as_millis()))?
            .map_err(|e| format!("initialization failed: {}", trap_reason(&e)))?;
        Ok(Environment {
            store,
            exports,
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

/// One running invocation, counted against `max-concurrency` until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    /// Counts one more invocation, unless `limit` are already running.
    fn enter(count: &'a AtomicUsize, limit: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(count))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
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
