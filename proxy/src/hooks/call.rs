//! One call into an execution environment: started on the request's worker, moved to the slow
//! lane if it uses more CPU than a fast hook (or, on the synchronous path, run to its end there
//! and stopped by its budget), bounded by its timeout, and reported as Lambda reports it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

use super::environment::Environment;
use super::lane::{CpuBudgetExceeded, CpuMeter, SlowLane};
use super::state::{CapturedOutput, HookState};
use super::sync_wasi::WouldWait;

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
    /// CPU time the call used (time in its polls, on any thread).
    pub cpu: Duration,
    /// Whether the call used more CPU than a fast hook and finished on the slow lane.
    pub slow_lane: bool,
    /// Whether the call outgrew the synchronous path and ran again on the asynchronous one.
    pub ran_again: bool,
    /// What the guest last said on stderr during the call (its panic message, if it trapped).
    pub guest_message: Option<String>,
}

impl Report {
    /// The duration Lambda bills: rounded up to the next whole millisecond (at least 1).
    pub fn billed_ms(&self) -> u64 {
        (self.duration.as_nanos().div_ceil(1_000_000) as u64).max(1)
    }

    /// What Lambda meters: billed duration × configured memory, in GB-seconds.
    pub fn gb_seconds(&self) -> f64 {
        self.billed_ms() as f64 / 1000.0 * self.memory_mb as f64 / 1024.0
    }

    /// The report of a call run again after `first`, its attempt abandoned on the synchronous
    /// path: the time and CPU of both (the instance made in between is its init).
    pub(super) fn after(mut self, first: &Report) -> Report {
        self.duration += first.duration;
        self.cpu += first.cpu;
        self.ran_again = true;
        self
    }

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
            self.billed_ms(),
            self.memory_mb,
            self.max_memory_used_mb,
            self.init
                .map(|d| format!(" Init Duration: {:.3} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_default(),
        )
    }
}

/// A call that ran past its timeout.
pub(super) struct TimedOut;

/// Why the epoch callback stopped a synchronous call: it ran past its timeout.
#[derive(Debug, thiserror::Error)]
#[error("ran past its timeout")]
pub(super) struct SyncTimedOut;

/// Why a speculative synchronous call (see [`HookState::speculate_until`]) was stopped: it
/// used the CPU after which an asynchronous call moves to the slow lane.
#[derive(Debug, thiserror::Error)]
#[error("used more CPU than slow-lane-after-ms")]
pub(super) struct OutgrewSynchronousPath;

/// Why a speculative synchronous call that ended with `e` must run again asynchronously: it
/// used too much CPU, or it would have waited. `None` for any other end.
pub(super) fn outgrew(e: &wasmtime::Error) -> Option<String> {
    if let Some(overran) = e.downcast_ref::<OutgrewSynchronousPath>() {
        return Some(overran.to_string());
    }
    e.downcast_ref::<WouldWait>()
        .map(|w| format!("{} would wait", w.operation()))
}

/// One call into an environment: started on the request's worker, moved to the slow lane if it
/// uses more CPU than a fast hook, bounded by its timeout, and reported as Lambda reports it.
pub(super) struct Call {
    /// What the guest prints, to be logged after the call.
    pub(super) output: CapturedOutput,
    cpu: Arc<CpuMeter>,
    /// Memory the environment had asked for before the call (all that is known of a call that
    /// timed out, whose environment is dropped with it).
    peak_before: usize,
    /// When the call started: its duration's and its first poll's start.
    started: Instant,
}

impl Call {
    /// Prepares `env` for a call started at `started` (read by the caller, who needed the
    /// time already): epoch deadline, CPU meter at zero.
    pub(super) fn start(env: &mut Environment, started: Instant) -> Call {
        env.store.set_epoch_deadline(1);
        let state = env.store.data();
        state.cpu.reset();
        Call {
            output: state.output.clone(),
            cpu: state.cpu.clone(),
            peak_before: state.limiter.peak,
            started,
        }
    }

    /// Runs `run` (which owns the environment and gives it back) on `lane` within `timeout`.
    /// The report names `memory_mb` as the configured memory and `init` as the cold start's;
    /// the guest's output is left in [`Call::output`] for the caller to log.
    pub(super) async fn run<O: Send + 'static>(
        &self,
        lane: &SlowLane,
        run: Pin<Box<impl Future<Output = (Environment, O)> + Send + 'static>>,
        timeout: Duration,
        init: Option<Duration>,
        memory_mb: u64,
    ) -> (Result<(Environment, O), TimedOut>, Report) {
        let started = self.started;
        let mut laned = lane.run(&self.cpu, run, started);
        let ran = tokio::time::timeout_at((started + timeout).into(), &mut laned).await;
        // A finished call ended with its last poll (wherever it ran); one that timed out, now.
        let ended = match &ran {
            Ok(_) => self.cpu.last_poll_ended(),
            Err(_) => Instant::now(),
        };
        let slow_lane = laned.moved();
        drop(laned);
        let peak = match &ran {
            Ok((env, _)) => env.store.data().limiter.peak,
            Err(_) => self.peak_before,
        };
        let ran = ran.map_err(|_| TimedOut).map(|(mut env, out)| {
            env.last_used = ended;
            (env, out)
        });
        let report = Report {
            duration: ended - started,
            init,
            memory_mb,
            max_memory_used_mb: (peak as u64).div_ceil(1 << 20),
            cpu: self.cpu.used(),
            guest_message: None,
            slow_lane,
            ran_again: false,
        };
        (ran, report)
    }
}

/// Runs `run` on `env` (whose call started at `started`) synchronously, on this thread: the
/// path of a function whose CPU budget is no more than a fast hook may use before it moves to
/// the slow lane. Nothing yields, so there is no timer and no move: the epoch callback stops
/// the call at its CPU budget or at `timeout`, whichever comes first (on this path, one is the
/// other: the call is on the CPU from start to end). Nothing is shared with another thread, so
/// the store's meter and output are used in place. `log` takes what the guest printed and
/// returns its failure message; a speculative call that [`outgrew`] the path logs nothing,
/// since it runs again. The result is [`Call::run`]'s.
pub(super) fn run_sync<T>(
    mut env: Environment,
    started: Instant,
    run: impl FnOnce(&mut Environment) -> wasmtime::Result<T>,
    timeout: Duration,
    init: Option<Duration>,
    memory_mb: u64,
    log: impl FnOnce(&CapturedOutput) -> Option<String>,
) -> (Result<(Environment, wasmtime::Result<T>), TimedOut>, Report) {
    env.store.set_epoch_deadline(1);
    let state = env.store.data_mut();
    state.call_timeout = timeout;
    state.cpu.reset();
    let start = state.cpu.begin(Some(started));
    let returned = run(&mut env);
    let state = env.store.data();
    state.cpu.end(start);
    let ended = state.cpu.last_poll_ended();
    let runs_again =
        state.speculate_until.is_some() && matches!(&returned, Err(e) if outgrew(e).is_some());
    let report = Report {
        duration: ended - started,
        init,
        memory_mb,
        max_memory_used_mb: (state.limiter.peak as u64).div_ceil(1 << 20),
        cpu: state.cpu.used(),
        guest_message: (!runs_again).then(|| log(&state.output)).flatten(),
        slow_lane: false,
        ran_again: false,
    };
    env.last_used = ended;
    let timed_out = matches!(&returned, Err(e) if e.downcast_ref::<SyncTimedOut>().is_some());
    let ran = match timed_out {
        true => Err(TimedOut),
        false => Ok((env, returned)),
    };
    (ran, report)
}

/// The epoch callback of a synchronous call: past its timeout (wall-clock time, as Lambda's),
/// its CPU budget, or (a speculative call) the CPU it may use on this path it is stopped, else
/// it goes on. Its CPU is the meter's ([`CpuMeter::tick`]): the thread's own clock from the
/// call's first tick, plus the time before that tick (at most a tick). Wall-clock time would
/// charge it for any time its thread was not running, and a host that takes the CPU away for a
/// millisecond would stop a microsecond call with a 1 ms budget.
pub(super) fn sync_tick(state: &mut HookState) -> wasmtime::Result<UpdateDeadline> {
    let cpu = state.cpu.tick();
    if state.speculate_until.is_some_and(|until| cpu > until) {
        return Err(OutgrewSynchronousPath.into());
    }
    if cpu > state.cpu_budget {
        return Err(CpuBudgetExceeded {
            budget_ms: state.cpu_budget.as_millis() as u64,
        }
        .into());
    }
    if state.cpu.in_poll() > state.call_timeout {
        return Err(SyncTimedOut.into());
    }
    Ok(UpdateDeadline::Continue(1))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::hooks::lane::burn_cpu;
    use crate::hooks::memory_budget::MemoryBudget;

    /// A synchronous call's state: `cpu_budget`, `timeout`, begun `waited` ago, all of which
    /// its thread spent asleep (as if the host had given its CPU to something else).
    fn running(cpu_budget: Duration, timeout: Duration, waited: Duration) -> HookState {
        let mut state = HookState::new(&[], 1 << 20, Arc::new(MemoryBudget::new(None)), cpu_budget);
        state.synchronous = true;
        state.call_timeout = timeout;
        state.cpu.begin(None);
        std::thread::sleep(waited);
        assert!(state.cpu.used() >= waited);
        state
    }

    #[test]
    fn a_synchronous_call_is_not_charged_for_time_its_thread_did_not_run() {
        // 10 ms since the call began (its thread was descheduled), little CPU used.
        let mut state = running(
            Duration::from_millis(2),
            Duration::MAX,
            Duration::from_millis(10),
        );
        assert!(matches!(
            sync_tick(&mut state),
            Ok(UpdateDeadline::Continue(1))
        ));
        // Past its budget in CPU of its own: stopped.
        burn_cpu(Duration::from_millis(3));
        let Err(stopped) = sync_tick(&mut state) else {
            panic!("not stopped");
        };
        assert_eq!(
            stopped
                .downcast_ref::<CpuBudgetExceeded>()
                .unwrap()
                .budget_ms,
            2
        );
    }

    #[test]
    fn a_speculative_call_descheduled_before_its_first_tick_has_not_outgrown_a_one_tick_path() {
        // A call on probation whose thread lost the CPU for 10 ms before the first tick: it is
        // charged a tick, which is not more than the path's one tick of CPU.
        let mut state = running(Duration::MAX, Duration::MAX, Duration::from_millis(10));
        state.speculate_until = Some(crate::hooks::epoch::EPOCH_TICK);
        assert!(matches!(
            sync_tick(&mut state),
            Ok(UpdateDeadline::Continue(1))
        ));
        // Once it uses CPU of its own past that, it has.
        burn_cpu(Duration::from_millis(1));
        let Err(stopped) = sync_tick(&mut state) else {
            panic!("not stopped");
        };
        assert!(outgrew(&stopped).is_some(), "{stopped:?}");
    }

    #[test]
    fn a_synchronous_call_past_its_timeout_is_stopped_by_wall_clock_time() {
        let mut state = running(
            Duration::from_secs(1),
            Duration::from_millis(5),
            Duration::from_millis(10),
        );
        let Err(stopped) = sync_tick(&mut state) else {
            panic!("not stopped");
        };
        assert!(stopped.downcast_ref::<SyncTimedOut>().is_some());
        let mut state = running(
            Duration::from_secs(1),
            Duration::from_millis(50),
            Duration::from_millis(10),
        );
        assert!(matches!(
            sync_tick(&mut state),
            Ok(UpdateDeadline::Continue(1))
        ));
    }
}
