//! One call into an execution environment: started on the request's worker, moved to the slow
//! lane if it uses more CPU than a fast hook (or, on the synchronous path, run to its end there
//! and stopped by its budget), bounded by its timeout, and reported as Lambda reports it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::environment::Environment;
use super::lane::{CpuMeter, SlowLane};
use super::state::CapturedOutput;

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
/// returns its failure message. The result is [`Call::run`]'s.
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
    let report = Report {
        duration: ended - started,
        init,
        memory_mb,
        max_memory_used_mb: (state.limiter.peak as u64).div_ceil(1 << 20),
        cpu: state.cpu.used(),
        guest_message: log(&state.output),
        slow_lane: false,
    };
    env.last_used = ended;
    let timed_out = matches!(&returned, Err(e) if e.downcast_ref::<SyncTimedOut>().is_some());
    let ran = match timed_out {
        true => Err(TimedOut),
        false => Ok((env, returned)),
    };
    (ran, report)
}
