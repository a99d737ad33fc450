//! One configured function and its execution environments, as Lambda keeps them: warm instances
//! reused across invocations (module state persists), cold starts when none is free, never reuse
//! after a trap or timeout, recycling after N invocations or idle time, and throttling beyond
//! `max-concurrency`.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::future::Either;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Store, UpdateDeadline};

use super::bindings::edge::hooks::types as wit;
use super::bindings::lambda_world::LambdaPre;
use super::bindings::HookPre;
use super::budgets::NodeBudgets;
use super::call::{self, Call, Report, TimedOut};
use super::convert;
use super::environment::{Environment, Exports};
use super::epoch::EpochTicker;
use super::error::{guest_message, trap_reason, HookError, Trigger};
use super::in_flight::InFlight;
use super::lane::CpuBudgetExceeded;
use super::lent::Lent;
use super::memory_budget::{BudgetExhausted, IdleEnvironments};
use super::meters::{CallMeters, MetersSlot};
use super::prepared::Prepared;
use super::state::{CapturedOutput, HookState};
use super::validated::{Decision, Validated};
use crate::config::{FunctionConfig, Isolation};
use edge_event::{limits, validate_keeping_line, CfEvent, EventType, HookOutcome};

/// How a call ended: with its environment and what it returned, or past its timeout.
type Ran<T> = Result<(Environment, T), TimedOut>;

/// What a `handle` call returns: the outcome or the function's error, unless it trapped.
type HandleReturned = wasmtime::Result<Result<wit::Outcome, String>>;

/// What an `invoke` call returns: the result JSON or the function's error, unless it trapped.
type InvokeReturned = wasmtime::Result<Result<Vec<u8>, String>>;

/// What a hook call decided (or why it failed), and what it cost (unless it never ran).
pub type Invoked = (Result<Decision, HookError>, Option<Report>);

/// A hook call under way ([`HookFunction::invoke_lending`]): finished already (a warm call on
/// the synchronous path, or one refused), or a boxed future of one that waits.
pub type Invocation<'a> =
    Either<Ready<Invoked>, Pin<Box<dyn Future<Output = Invoked> + Send + 'a>>>;

/// Which contract a component implements.
enum Pre {
    Hook(HookPre<HookState>),
    Lambda(LambdaPre<HookState>),
}

/// What functions are linked against: a function that links with `synchronous` (WASI without
/// waits, `sync_wasi`) runs on the synchronous path — for good when its CPU budget is no more
/// than the slow lane's threshold, else until a call outgrows it (uses that much CPU, or would
/// wait), when that call runs again on the asynchronous path and the function stays there.
/// A function that does not link with it (it imports files or sockets) runs asynchronously.
pub struct Linkers {
    pub(super) asynchronous: Linker<HookState>,
    pub(super) synchronous: Linker<HookState>,
}

/// A compiled function with its pool of environments.
pub struct HookFunction {
    config: FunctionConfig,
    digest: [u8; 32],
    /// Linked for the path it starts on.
    pre: Pre,
    /// Linked for the asynchronous path, for a function that starts on the synchronous one
    /// without a budget that keeps it there (see [`Linkers`]).
    fallback: Option<Pre>,
    /// Whether its calls run synchronously on the request's worker (see [`Linkers`]): no fiber,
    /// no timer, no move to the slow lane. Cleared, for good, when a call outgrows the path.
    synchronous: AtomicBool,
    idle: Mutex<Vec<Environment>>,
    /// Fresh environments prepared off the request path (`isolation = "per-request"`).
    prepared: Prepared<Environment>,
    /// Invocations running now (never waited on: beyond `max-concurrency` is a throttle).
    in_flight: AtomicUsize,
    /// This function, for the task that prepares its environments.
    me: Weak<HookFunction>,
    /// The slow lane and memory budget every function on the node shares.
    budgets: Arc<NodeBudgets>,
    /// Told whenever this function's wasm may run (instantiation, calls), so the epoch ticks.
    ticker: Arc<EpochTicker>,
    /// Its meters, once a call has resolved them.
    meters: MetersSlot,
}

/// How a cold start failed.
enum ColdStartError {
    /// The node's memory budget could not grant the instance's memory.
    Budget(BudgetExhausted),
    /// Instantiation trapped, failed or timed out.
    Failed(String),
}

impl Pre {
    /// `pre` by the contract its component implements, checked against both.
    fn new(pre: InstancePre<HookState>, config: &FunctionConfig) -> anyhow::Result<Pre> {
        match HookPre::new(pre.clone()) {
            Ok(p) => Ok(Pre::Hook(p)),
            Err(hook_err) => Ok(Pre::Lambda(LambdaPre::new(pre).map_err(|_| {
                anyhow::anyhow!(
                    "function \"{}\": {} implements neither the edge:hooks `hook` world nor the `lambda` world: {hook_err:#}",
                    config.name,
                    config.module.display()
                )
            })?)),
        }
    }
}

impl HookFunction {
    /// Prepares `component` (the compiled module of `config`, whose SHA-256 is `digest`) for
    /// instantiation, its environments sharing `budgets` with the node's other functions; its
    /// wasm tells `ticker` (the engine's) whenever it may run.
    pub fn load(
        linkers: &Linkers,
        ticker: Arc<EpochTicker>,
        component: &Component,
        config: FunctionConfig,
        digest: [u8; 32],
        budgets: Arc<NodeBudgets>,
    ) -> anyhow::Result<Arc<Self>> {
        let fits = config
            .cpu_budget_ms
            .is_some_and(|ms| Duration::from_millis(ms) <= budgets.lane.after());
        let synchronous_pre = match linkers.synchronous.instantiate_pre(component) {
            Ok(pre) => Some(pre),
            Err(e) => {
                if fits {
                    tracing::info!(
                        function = %config.name,
                        "runs on the asynchronous path although its CPU budget fits the synchronous one: {e:#}"
                    );
                }
                None
            }
        };
        let asynchronous = |config: &FunctionConfig| {
            let pre = linkers
                .asynchronous
                .instantiate_pre(component)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "function \"{}\": {}: {e:#}",
                        config.name,
                        config.module.display()
                    )
                })?;
            Pre::new(pre, config)
        };
        let synchronous = AtomicBool::new(synchronous_pre.is_some());
        let (pre, fallback) = match synchronous_pre {
            Some(pre) if fits => (Pre::new(pre, &config)?, None),
            Some(pre) => (Pre::new(pre, &config)?, Some(asynchronous(&config)?)),
            None => (asynchronous(&config)?, None),
        };
        let function = Arc::new_cyclic(|me| HookFunction {
            in_flight: AtomicUsize::new(0),
            config,
            digest,
            pre,
            fallback,
            synchronous,
            idle: Mutex::new(Vec::new()),
            prepared: Prepared::new(),
            me: me.clone(),
            budgets,
            ticker,
            meters: MetersSlot::new(),
        });
        let idle: Weak<HookFunction> = Arc::downgrade(&function);
        function.budgets.memory.register(idle);
        Ok(function)
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

    /// The meters observing this function's calls: `resolve`d by the first call, kept after.
    pub fn meters(&self, resolve: impl FnOnce() -> Arc<dyn CallMeters>) -> &dyn CallMeters {
        &**self.meters.get_or_init(resolve)
    }

    /// Runs the function on `event`, returning the validated outcome and what it cost. The
    /// event's header maps move into the instance's store, so nothing is copied for the guest.
    /// `event` is as the hook sees it, without disallowed headers: the proxy builds events that
    /// way, and events read from JSON go through [`limits::hide_disallowed`] first.
    pub async fn invoke(&self, event: CfEvent) -> (Result<Validated, HookError>, Option<Report>) {
        let request_id = event.config.request_id.clone();
        let shown_origin = event.request.origin.clone();
        let (result, report) = self
            .invoke_lending(Box::new(event), Lent::default(), &request_id)
            .await;
        let mut result = result.map(|decided| match decided {
            Decision::Changed(validated) => *validated,
            Decision::Unchanged => unreachable!("nothing is lent: the outcome is built whole"),
        });
        // The whole request, as AWS returns it: with the origin the hook left as shown.
        if let Ok(Validated {
            outcome: HookOutcome::Request(request),
            ..
        }) = &mut result
        {
            if request.origin.is_none() {
                request.origin = shown_origin;
            }
        }
        (result, report)
    }

    /// [`HookFunction::invoke`] with header maps `lent` in place of the event's lists: read in
    /// place, listed whole only if the hook asks for every line. The outcome's map of a lent
    /// part holds only the lines of the names the hook changed, all the proxy rewrites; its
    /// request's `origin` is `None` when the hook left the one shown, which the proxy keeps.
    /// `request_id` (the event's) names the call in the log; the caller's copy is borrowed, so a
    /// call makes none of its own. Event and outcome are boxed: each is a few hundred bytes,
    /// and on its way through the call's futures would be copied at every step.
    ///
    /// A warm call on the synchronous path (nearly all of a Rust hook's) runs here, before the
    /// returned future is first polled, which then only hands its result over: the future
    /// holds no call's state, so moving it (into the trigger's future, and on) copies a result,
    /// not a kilobyte of suspended invocation. Throttling is decided here too. A call that has
    /// to wait (a cold start, the asynchronous path, a call run again) is a boxed future.
    pub fn invoke_lending<'a>(
        &'a self,
        event: Box<CfEvent>,
        lent: Lent,
        request_id: &'a str,
    ) -> Invocation<'a> {
        let trigger = Trigger::Edge(event.config.event_type);
        let Some(permit) = InFlight::enter(&self.in_flight, self.config.max_concurrency) else {
            return Either::Left(ready((Err(self.throttled(trigger)), None)));
        };
        let now = Instant::now();
        if let Some(env) = self.take_idle(now) {
            return self.call_on(permit, env, None, now, event, lent, request_id);
        }
        Either::Right(Box::pin(async move {
            let (env, init, started) = match self.fresh_environment(&trigger).await {
                Ok(made) => made,
                Err(e) => return (Err(e), None),
            };
            self.call_on(permit, env, init, started, event, lent, request_id)
                .await
        }))
    }

    /// Calls `handle` on `env` (in hand since `started`, after `init` if cold-started) with
    /// `event` and what is `lent`, counted by `permit` until it ends: to the end here on the
    /// synchronous path, else as a boxed future.
    #[allow(clippy::too_many_arguments)]
    fn call_on<'a>(
        &'a self,
        permit: InFlight<'a>,
        mut env: Environment,
        init: Option<Duration>,
        started: Instant,
        event: Box<CfEvent>,
        lent: Lent,
        request_id: &'a str,
    ) -> Invocation<'a> {
        let et = event.config.event_type;
        let trigger = Trigger::Edge(et);
        if !matches!(env.exports, Exports::Hook(_)) {
            let e = self.trap(
                &trigger,
                "this is an ALB target function, not a hook".into(),
            );
            return Either::Left(ready((Err(e), None)));
        }
        let timeout = Duration::from_millis(self.timeout_ms(et));
        let state = env.store.data_mut();
        let synchronous = state.synchronous;
        let args = convert::begin(state, event, lent);
        if !synchronous {
            return Either::Right(Box::pin(async move {
                let _permit = permit;
                let (ran, report) = self
                    .call_handle(env, args, started, timeout, init, request_id)
                    .await;
                self.lift(ran, report, trigger, et)
            }));
        }
        let call_handle = |env: &mut Environment| {
            let Exports::Hook(hook) = &env.exports else {
                unreachable!("checked above");
            };
            let params = (args.event_type, args.request, args.response);
            hook.func_handle()
                .call(&mut env.store, params)
                .map(|(returned,)| returned)
        };
        let (ran, first) = self.run_sync(env, started, call_handle, timeout, init, request_id);
        match (Self::outgrew(&ran), ran) {
            (Some(why), Ok((env, _))) => Either::Right(Box::pin(async move {
                let _permit = permit;
                self.handle_again(env, why, first, trigger, request_id)
                    .await
            })),
            (_, ran) => Either::Left(ready(self.lift(ran, first, trigger, et))),
        }
    }

    /// Runs again on the asynchronous path a `handle` call that outgrew the synchronous one
    /// (`why`) on `env`, from the event it gives back as it came; its report counts the
    /// `first` attempt too.
    async fn handle_again(
        &self,
        mut env: Environment,
        why: String,
        first: Report,
        trigger: Trigger,
        request_id: &str,
    ) -> Invoked {
        let Some((event, lent)) = convert::abandon(env.store.data_mut()) else {
            return (
                Err(self.trap(&trigger, "the invocation lost its event".into())),
                None,
            );
        };
        drop(env);
        self.leave_synchronous_path(&why);
        let (mut env, init, started) = match self.environment(&trigger).await {
            Ok(made) => made,
            Err(e) => return (Err(e), Some(first)),
        };
        let et = event.config.event_type;
        let timeout = Duration::from_millis(self.timeout_ms(et));
        let args = convert::begin(env.store.data_mut(), event, lent);
        let (ran, report) = self
            .call_handle(env, args, started, timeout, init, request_id)
            .await;
        self.lift(ran, report.after(&first), trigger, et)
    }

    /// `handle` called with `args` on `env` (on the asynchronous path), started at `started`.
    async fn call_handle(
        &self,
        mut env: Environment,
        args: convert::HandleArgs,
        started: Instant,
        timeout: Duration,
        init: Option<Duration>,
        request_id: &str,
    ) -> (Ran<HandleReturned>, Report) {
        let call = Call::start(&mut env, started);
        let running = self.ticker.running();
        // Boxed here, where it is made: it goes to the lane boxed, and a future moved by
        // value through each layer on the way would be copied at each (its state holds the
        // call's).
        let run = Box::pin(async move {
            // Held by the future that runs the guest, wherever it is polled, until it ends.
            let _running = running;
            let Exports::Hook(hook) = &env.exports else {
                unreachable!("checked by the caller");
            };
            let returned = hook
                .call_handle(&mut env.store, args.event_type, args.request, args.response)
                .await;
            (env, returned)
        });
        self.run(call, run, timeout, init, request_id).await
    }

    /// Why the call that `ran`, a speculative synchronous one, outgrew the path, if it did.
    fn outgrew<T>(ran: &Ran<wasmtime::Result<T>>) -> Option<String> {
        match ran {
            Ok((env, Err(e))) if env.store.data().speculate_until.is_some() => call::outgrew(e),
            _ => None,
        }
    }

    /// The outcome of a `handle` call that `ran`, validated against the event.
    fn lift(
        &self,
        ran: Ran<HandleReturned>,
        report: Report,
        trigger: Trigger,
        et: EventType,
    ) -> Invoked {
        let (mut env, returned) = match ran {
            Ok(done) => done,
            Err(stopped) => {
                let e = self.stopped(stopped, &trigger, self.timeout_ms(et));
                return (Err(e), Some(report));
            }
        };
        let state = env.store.data_mut();
        let lifted = match returned {
            Err(trap) => Err(self.trapped(&trigger, &trap, report.guest_message.as_deref())),
            Ok(Err(message)) => Err(HookError::FunctionError {
                function: self.config.name.clone(),
                trigger: trigger.clone(),
                message,
            }),
            Ok(Ok(o)) if convert::unchanged(state, &o) => Ok(Ok(None)),
            Ok(Ok(o)) => Ok(convert::outcome_from_wit(state, o).map(Some)),
        };
        let Some(mut event) = convert::end(state) else {
            return (
                Err(self.trap(&trigger, "the invocation lost its event".into())),
                None,
            );
        };
        // Only an instance that finished its call goes back to the pool.
        if matches!(lifted, Ok(_) | Err(HookError::FunctionError { .. })) {
            self.release(env);
        }
        let outcome = lifted.and_then(|lifted| {
            lifted
                .and_then(|changed| {
                    let Some(mut validated) = changed else {
                        return Ok(Decision::Unchanged);
                    };
                    let Validated {
                        outcome,
                        header_edits,
                        line_kept,
                    } = &mut *validated;
                    validate_keeping_line(&mut event, outcome, header_edits, *line_kept)
                        .map(|()| Decision::Changed(validated))
                })
                .map_err(|reason| HookError::Invalid {
                    function: self.config.name.clone(),
                    trigger,
                    reason,
                })
        });
        (outcome, Some(report))
    }

    /// The error for a call refused because `max-concurrency` calls are running.
    fn throttled(&self, trigger: Trigger) -> HookError {
        HookError::Throttled {
            function: self.config.name.clone(),
            trigger,
            limit: self.config.max_concurrency,
        }
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

    /// The error for a call that stopped with `e`: its CPU budget, the node's memory budget, or
    /// a trap, named by what the guest last `said` on stderr (its panic message) when it did.
    fn trapped(&self, trigger: &Trigger, e: &wasmtime::Error, said: Option<&str>) -> HookError {
        if let Some(cpu) = e.downcast_ref::<CpuBudgetExceeded>() {
            return HookError::CpuBudget {
                function: self.config.name.clone(),
                trigger: trigger.clone(),
                budget_ms: cpu.budget_ms,
            };
        }
        if let Some(memory) = e.downcast_ref::<BudgetExhausted>() {
            return self.memory_budget(trigger, memory);
        }
        let reason = match said {
            Some(said) => format!("{said} ({})", trap_reason(e)),
            None => trap_reason(e),
        };
        self.trap(trigger, reason)
    }

    fn memory_budget(&self, trigger: &Trigger, e: &BudgetExhausted) -> HookError {
        HookError::MemoryBudget {
            function: self.config.name.clone(),
            trigger: trigger.clone(),
            reason: e.to_string(),
        }
    }

    /// The error for a call that did not finish: it ran past its timeout (the call and its
    /// environment are dropped, wherever it ran).
    fn stopped(&self, _: TimedOut, trigger: &Trigger, timeout_ms: u64) -> HookError {
        HookError::Timeout {
            function: self.config.name.clone(),
            trigger: trigger.clone(),
            timeout_ms,
        }
    }

    /// A concurrency permit, an environment (warm, or cold-started with its init time), and
    /// when the environment was in hand: the call's start (one clock read serves a warm call
    /// both).
    async fn acquire(
        &self,
        trigger: &Trigger,
    ) -> Result<(InFlight<'_>, Environment, Option<Duration>, Instant), HookError> {
        let Some(permit) = InFlight::enter(&self.in_flight, self.config.max_concurrency) else {
            return Err(self.throttled(trigger.clone()));
        };
        let now = Instant::now();
        if let Some(env) = self.take_idle(now) {
            return Ok((permit, env, None, now));
        }
        let (env, init, started) = self.fresh_environment(trigger).await?;
        Ok((permit, env, init, started))
    }

    /// An environment for the path calls take now (warm, or cold-started with its init time),
    /// and when it was in hand.
    async fn environment(
        &self,
        trigger: &Trigger,
    ) -> Result<(Environment, Option<Duration>, Instant), HookError> {
        let now = Instant::now();
        if let Some(env) = self.take_idle(now) {
            return Ok((env, None, now));
        }
        self.fresh_environment(trigger).await
    }

    /// An environment not yet used, for when no idle one is left: a prepared one (per-request
    /// isolation) or one cold-started now, with its init time.
    async fn fresh_environment(
        &self,
        trigger: &Trigger,
    ) -> Result<(Environment, Option<Duration>, Instant), HookError> {
        if self.config.isolation == Isolation::PerRequest {
            let me = self.me.clone();
            self.prepared.start(move || {
                let f = me.upgrade()?;
                Some(async move {
                    f.cold_start().await.map_err(|e| {
                        let reason = match e {
                            ColdStartError::Budget(b) => b.to_string(),
                            ColdStartError::Failed(reason) => reason,
                        };
                        tracing::warn!(
                            function = f.name(),
                            "preparing an environment failed: {reason}"
                        );
                        reason
                    })
                })
            });
            // One prepared for the path the function has left is dropped.
            if let Some(env) = self.prepared.take().filter(|env| self.suits(env)) {
                return Ok((env, None, Instant::now()));
            }
        }
        // Boxed: instantiation's futures are large, and inline they would make every call's
        // future as large, copied each time one is built, warm calls included.
        let (env, init) = Box::pin(self.cold_start_now(trigger)).await?;
        Ok((env, init, Instant::now()))
    }

    /// Whether `env` was made for the path the function's calls take now.
    fn suits(&self, env: &Environment) -> bool {
        env.store.data().synchronous == self.synchronous.load(Ordering::Relaxed)
    }

    /// Moves the function to the asynchronous path for good, because a call outgrew the
    /// synchronous one (`why`); its idle environments, linked for that path, are dropped.
    fn leave_synchronous_path(&self, why: &str) {
        if self.synchronous.swap(false, Ordering::Relaxed) {
            tracing::info!(
                function = %self.config.name,
                "moves to the asynchronous path: a call {why} (it runs again there)"
            );
            self.drop_idle();
        }
    }

    /// An environment cold-started on the request's path, with its init time.
    async fn cold_start_now(
        &self,
        trigger: &Trigger,
    ) -> Result<(Environment, Option<Duration>), HookError> {
        let cold = |e| match e {
            ColdStartError::Budget(b) => self.memory_budget(trigger, &b),
            ColdStartError::Failed(reason) => self.trap(trigger, reason),
        };
        let started = Instant::now();
        let env = match self.cold_start().await {
            // Idle environments (of any function) give up their memory first, as Lambda
            // recycles idle environments before it throttles.
            Err(ColdStartError::Budget(b)) => {
                let recycled = self.budgets.memory.recycle_idle();
                tracing::warn!(
                    function = self.name(),
                    recycled,
                    "cold start: {b}; recycled {recycled} idle environments"
                );
                self.cold_start().await
            }
            made => made,
        };
        let env = env.map_err(|e| {
            if let ColdStartError::Budget(b) = &e {
                tracing::warn!(function = self.name(), "cold start throttled: {b}");
            }
            cold(e)
        })?;
        Ok((env, Some(started.elapsed())))
    }

    /// Runs an ALB-style target function (the `lambda` world) on the event JSON of target
    /// group `target_group`, returning the result JSON.
    pub async fn invoke_json(
        &self,
        target_group: &str,
        event: Vec<u8>,
        timeout: Duration,
        request_id: &str,
    ) -> (Result<Vec<u8>, HookError>, Option<Report>) {
        let trigger = Trigger::TargetGroup(target_group.to_string());
        let (_permit, env, init, started) = match self.acquire(&trigger).await {
            Ok(acquired) => acquired,
            Err(e) => return (Err(e), None),
        };
        if !matches!(env.exports, Exports::Lambda(_)) {
            return (
                Err(self.trap(
                    &trigger,
                    "this is a hook, not an ALB target function".into(),
                )),
                None,
            );
        }
        let (ran, report) = if env.store.data().synchronous {
            let call_invoke = |env: &mut Environment| {
                let Exports::Lambda(function) = &env.exports else {
                    unreachable!("checked above");
                };
                function
                    .func_invoke()
                    .call(&mut env.store, (&event[..],))
                    .map(|(returned,)| returned)
            };
            let (ran, first) = self.run_sync(env, started, call_invoke, timeout, init, request_id);
            match Self::outgrew(&ran) {
                Some(why) => {
                    drop(ran);
                    self.leave_synchronous_path(&why);
                    let (env, init, started) = match self.environment(&trigger).await {
                        Ok(made) => made,
                        Err(e) => return (Err(e), Some(first)),
                    };
                    let (ran, report) = self
                        .call_invoke(env, event, started, timeout, init, request_id)
                        .await;
                    (ran, report.after(&first))
                }
                None => (ran, first),
            }
        } else {
            self.call_invoke(env, event, started, timeout, init, request_id)
                .await
        };
        self.lift_json(ran, report, trigger, timeout)
    }

    /// `invoke` called with `event` on `env` (on the asynchronous path), started at `started`.
    async fn call_invoke(
        &self,
        mut env: Environment,
        event: Vec<u8>,
        started: Instant,
        timeout: Duration,
        init: Option<Duration>,
        request_id: &str,
    ) -> (Ran<InvokeReturned>, Report) {
        let call = Call::start(&mut env, started);
        let running = self.ticker.running();
        let run = Box::pin(async move {
            let _running = running;
            let Exports::Lambda(function) = &env.exports else {
                unreachable!("checked by the caller");
            };
            let returned = function.call_invoke(&mut env.store, &event[..]).await;
            (env, returned)
        });
        self.run(call, run, timeout, init, request_id).await
    }

    /// The result JSON of an `invoke` call that `ran`.
    fn lift_json(
        &self,
        ran: Ran<InvokeReturned>,
        report: Report,
        trigger: Trigger,
        timeout: Duration,
    ) -> (Result<Vec<u8>, HookError>, Option<Report>) {
        let timeout_ms = timeout.as_millis() as u64;
        let outcome = match ran {
            Err(stopped) => Err(self.stopped(stopped, &trigger, timeout_ms)),
            Ok((_, Err(trap))) => {
                Err(self.trapped(&trigger, &trap, report.guest_message.as_deref()))
            }
            Ok((env, Ok(returned))) => {
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

    /// A warm environment that is neither expired nor used up at `now`, if any.
    #[inline]
    fn take_idle(&self, now: Instant) -> Option<Environment> {
        if self.config.isolation == Isolation::PerRequest {
            return None;
        }
        let mut idle = self.idle.lock().expect("pool lock");
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
        if env.invocations >= self.config.max_invocations || !self.suits(&env) {
            return;
        }
        self.idle.lock().expect("pool lock").push(env);
    }

    /// A new environment: a store and an instance, initialized.
    async fn cold_start(&self) -> Result<Environment, ColdStartError> {
        let cpu_budget = self
            .config
            .cpu_budget_ms
            .map_or(Duration::MAX, Duration::from_millis);
        let state = HookState::new(
            &self.config.env,
            (self.config.memory_mb as usize) << 20,
            self.budgets.memory.clone(),
            cpu_budget,
        );
        let synchronous = self.synchronous.load(Ordering::Relaxed);
        let pre = match &self.fallback {
            Some(fallback) if !synchronous => fallback,
            _ => &self.pre,
        };
        let engine = match pre {
            Pre::Hook(pre) => pre.engine(),
            Pre::Lambda(pre) => pre.engine(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        // At every epoch tick: stop a call past its CPU budget, else yield to the runtime (so
        // the call can move to the slow lane and other tasks run). A synchronous call cannot
        // yield: `sync_tick` enforces its timeout too.
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.synchronous {
                return call::sync_tick(state);
            }
            if state.cpu.tick() > state.cpu_budget {
                return Err(CpuBudgetExceeded {
                    budget_ms: state.cpu_budget.as_millis() as u64,
                }
                .into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let timeout = Duration::from_millis(
            self.config
                .timeout_ms
                .unwrap_or(limits::default_timeout_ms(EventType::OriginRequest)),
        );
        let instantiate = async {
            let _running = self.ticker.running();
            match pre {
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
            .map_err(|_| {
                ColdStartError::Failed(format!(
                    "initialization timed out after {} ms",
                    timeout.as_millis()
                ))
            })?
            .map_err(|e| match e.downcast::<BudgetExhausted>() {
                Ok(budget) => ColdStartError::Budget(budget),
                Err(e) => {
                    ColdStartError::Failed(format!("initialization failed: {}", trap_reason(&e)))
                }
            })?;
        // Made on a fiber like any instance; called on this thread from now on.
        let state = store.data_mut();
        state.synchronous = synchronous;
        if synchronous && self.fallback.is_some() {
            state.speculate_until = Some(self.budgets.lane.after());
        }
        Ok(Environment {
            store,
            exports,
            invocations: 0,
            last_used: Instant::now(),
        })
    }

    /// Runs `call` (`run` owns the environment and gives it back) on this node's slow lane
    /// within `timeout`, then logs what the guest printed under `request_id`.
    async fn run<O: Send + 'static>(
        &self,
        call: Call,
        run: Pin<Box<impl std::future::Future<Output = (Environment, O)> + Send + 'static>>,
        timeout: Duration,
        init: Option<Duration>,
        request_id: &str,
    ) -> (Result<(Environment, O), TimedOut>, Report) {
        let (ran, mut report) = call
            .run(
                &self.budgets.lane,
                run,
                timeout,
                init,
                self.config.memory_mb,
            )
            .await;
        report.guest_message = self.log_output(&call.output, request_id);
        (ran, report)
    }

    /// [`HookFunction::run`] for a function on the synchronous path: `run` runs on this
    /// thread, on `env`, whose call started at `started`.
    fn run_sync<T>(
        &self,
        env: Environment,
        started: Instant,
        run: impl FnOnce(&mut Environment) -> wasmtime::Result<T>,
        timeout: Duration,
        init: Option<Duration>,
        request_id: &str,
    ) -> (Result<(Environment, wasmtime::Result<T>), TimedOut>, Report) {
        self.ticker.run(|| {
            call::run_sync(
                env,
                started,
                run,
                timeout,
                init,
                self.config.memory_mb,
                |output| self.log_output(output, request_id),
            )
        })
    }

    /// Writes what the guest printed to the log, a line at a time, with function and request
    /// id; returns what it last said on stderr (its failure message, should the call trap).
    fn log_output(&self, output: &CapturedOutput, request_id: &str) -> Option<String> {
        // Most calls print nothing: no locks, no text to scan.
        if !output.written() {
            return None;
        }
        let (output, stderr) = output.take();
        for line in String::from_utf8_lossy(&output).lines() {
            tracing::info!(target: "edge_proxy::hook_output", function = %self.config.name, request_id, "{line}");
        }
        guest_message(&stderr)
    }
}

impl IdleEnvironments for HookFunction {
    fn drop_idle(&self) -> usize {
        std::mem::take(&mut *self.idle.lock().expect("pool lock")).len()
    }
}
