//! The slow lane: invocations that have used more CPU than a fast hook needs finish on their own
//! low-priority threads, so the requests on the worker that started them never wait behind a
//! spinning guest. Every invocation's CPU time is metered here too (for its CPU budget and the
//! `edge_hook_cpu_seconds_total` metric).
//!
//! A guest yields to the async runtime at every epoch tick. On a worker, each yield of a spinning
//! guest costs the worker's other tasks a tick-long slice per turn, and a request needs several
//! turns; four spinners on one worker cut healthy throughput to 2 %. Here an invocation starts on
//! the worker (a fast hook pays nothing more than a clock read per poll) and, at the first yield
//! after it has used `after` of CPU, the rest of the call moves to the lane's threads, which run
//! at a lower OS priority than the workers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// `nice` of the lane's threads: under contention the scheduler gives a nice-10 thread about a
/// tenth of the share of a nice-0 worker.
const LANE_NICE: i32 = 10;

/// Where long-running invocations finish.
pub struct SlowLane {
    runtime: Option<tokio::runtime::Runtime>,
    /// CPU an invocation may use on the worker before it moves.
    after: Duration,
}

impl SlowLane {
    /// A lane of `threads` threads (0: invocations never move) taking invocations past `after`
    /// of CPU.
    pub fn new(threads: usize, after: Duration) -> std::io::Result<Self> {
        let runtime = match threads {
            0 => None,
            n => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(n)
                    .thread_name("hook-slow-lane")
                    .on_thread_start(lower_priority)
                    .enable_time()
                    .build()?,
            ),
        };
        Ok(SlowLane { runtime, after })
    }

    /// CPU an invocation may use on the worker before it moves.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Runs `call`, metering its CPU time into `meter`, on this thread until it has used the
    /// lane's threshold, then on the lane. Dropping the returned future (a timeout) cancels the
    /// call wherever it runs. The call comes boxed (it may move to the lane): boxed by its
    /// maker, it is not moved again on its way here. Its first poll is metered from `began`,
    /// a time the caller has read already (a warm call reads the clock once before it ends).
    pub fn run<'a, F>(
        &'a self,
        meter: &'a Arc<CpuMeter>,
        call: Pin<Box<F>>,
        began: Instant,
    ) -> Laned<'a, F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Laned {
            state: State::Here(call),
            meter,
            lane: self,
            moved: false,
            began: Some(began),
        }
    }
}

impl Drop for SlowLane {
    fn drop(&mut self) {
        // Dropped by the last registry using it, which may be on an async worker.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's scheduling priority (Linux: per thread).
fn lower_priority() {
    // SAFETY: setpriority and gettid only read their integer arguments; a failure (for example
    // where the priority may not change) leaves the thread at the workers' priority.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, LANE_NICE);
    }
}

/// Why the epoch callback stopped a call: it used its function's `cpu-budget-ms`.
#[derive(Debug, thiserror::Error)]
#[error("used its CPU budget of {budget_ms} ms")]
pub struct CpuBudgetExceeded {
    /// The budget, ms.
    pub budget_ms: u64,
}

/// CPU time of the running invocation: the time spent inside its polls, on whichever thread.
/// Shared with the store, whose epoch callback enforces the function's CPU budget.
#[derive(Debug)]
pub struct CpuMeter {
    anchor: Instant,
    /// Nanoseconds used by finished polls.
    used: AtomicU64,
    /// When the poll running now began (nanoseconds after `anchor`), or `IDLE`.
    poll_started: AtomicU64,
    /// When the last poll ended (nanoseconds after `anchor`).
    poll_ended: AtomicU64,
}

const IDLE: u64 = u64::MAX;

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter {
            anchor: Instant::now(),
            used: AtomicU64::new(0),
            poll_started: AtomicU64::new(IDLE),
            poll_ended: AtomicU64::new(0),
        }
    }
}

impl CpuMeter {
    /// Starts a new invocation at zero.
    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
        self.poll_started.store(IDLE, Ordering::Relaxed);
    }

    /// CPU used so far, counting the poll in progress.
    pub fn used(&self) -> Duration {
        let done = self.used.load(Ordering::Relaxed);
        let started = self.poll_started.load(Ordering::Relaxed);
        let running = match started {
            IDLE => 0,
            s => self.now().saturating_sub(s),
        };
        Duration::from_nanos(done + running)
    }

    /// When the last poll ended: the end of a finished call, without reading the clock again.
    pub fn last_poll_ended(&self) -> Instant {
        self.anchor + Duration::from_nanos(self.poll_ended.load(Ordering::Relaxed))
    }

    fn now(&self) -> u64 {
        self.anchor.elapsed().as_nanos() as u64
    }

    /// Polls `f`, adding the time the poll took: from `began` if given, else from now.
    fn poll<F: Future + ?Sized>(
        &self,
        f: Pin<&mut F>,
        cx: &mut Context<'_>,
        began: Option<Instant>,
    ) -> Poll<F::Output> {
        let start = self.begin(began);
        let polled = f.poll(cx);
        self.end(start);
        polled
    }

    /// Starts metering a synchronous call (one poll, as far as the meter knows) that began at
    /// `began` (or now); returns what [`CpuMeter::end`] takes.
    pub fn begin(&self, began: Option<Instant>) -> u64 {
        let start = match began {
            Some(at) => at.saturating_duration_since(self.anchor).as_nanos() as u64,
            None => self.now(),
        };
        self.poll_started.store(start, Ordering::Relaxed);
        start
    }

    /// Ends what [`CpuMeter::begin`] started, adding its time.
    pub fn end(&self, start: u64) {
        self.poll_started.store(IDLE, Ordering::Relaxed);
        let end = self.now();
        self.poll_ended.store(end, Ordering::Relaxed);
        self.used
            .fetch_add(end.saturating_sub(start), Ordering::Relaxed);
    }
}

enum State<F: Future> {
    Here(Pin<Box<F>>),
    There(JoinHandle<F::Output>),
    Done,
}

/// An invocation that may move to the slow lane (see [`SlowLane::run`]). It borrows the lane
/// and the meter: a call that stays on its worker (nearly all) touches no reference count.
pub struct Laned<'a, F: Future> {
    state: State<F>,
    meter: &'a Arc<CpuMeter>,
    lane: &'a SlowLane,
    moved: bool,
    /// When the first poll began, read by the caller; taken by that poll.
    began: Option<Instant>,
}

impl<F: Future> Laned<'_, F> {
    /// Whether the call moved to the slow lane.
    pub fn moved(&self) -> bool {
        self.moved
    }
}

impl<F> Future for Laned<'_, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Here(call) => {
                    if let Poll::Ready(out) = this.meter.poll(call.as_mut(), cx, this.began.take())
                    {
                        this.state = State::Done;
                        return Poll::Ready(out);
                    }
                    let Some(lane) = &this.lane.runtime else {
                        return Poll::Pending;
                    };
                    if this.meter.used() < this.lane.after {
                        return Poll::Pending;
                    }
                    let State::Here(call) = std::mem::replace(&mut this.state, State::Done) else {
                        unreachable!("matched above");
                    };
                    let meter = this.meter.clone();
                    this.state = State::There(lane.spawn(Metered { call, meter }));
                    this.moved = true;
                }
                State::There(handle) => {
                    return match Pin::new(handle).poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(joined) => {
                            this.state = State::Done;
                            match joined {
                                Ok(out) => Poll::Ready(out),
                                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                                // Only this future aborts the task, and only when dropped.
                                Err(e) => unreachable!("slow-lane task cancelled: {e}"),
                            }
                        }
                    };
                }
                State::Done => panic!("Laned polled after completion"),
            }
        }
    }
}

impl<F: Future> Drop for Laned<'_, F> {
    fn drop(&mut self) {
        if let State::There(handle) = &self.state {
            handle.abort();
        }
    }
}

/// A call running on the lane, still metered.
struct Metered<F: Future> {
    call: Pin<Box<F>>,
    meter: Arc<CpuMeter>,
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.meter.poll(this.call.as_mut(), cx, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns `slices` slices of ~2 ms of CPU, yielding between them, and names the thread it
    /// finished on.
    async fn spin(slices: u32) -> String {
        for _ in 0..slices {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(2) {
                std::hint::spin_loop();
            }
            tokio::task::yield_now().await;
        }
        std::thread::current().name().unwrap_or("").to_string()
    }

    #[tokio::test]
    async fn a_call_past_the_threshold_finishes_on_the_lane_and_is_metered_throughout() {
        let lane = SlowLane::new(1, Duration::from_millis(1)).unwrap();
        let meter = Arc::new(CpuMeter::default());
        let mut call = lane.run(&meter, Box::pin(spin(5)), Instant::now());
        let thread = (&mut call).await;
        assert!(call.moved());
        assert_eq!(thread, "hook-slow-lane");
        assert!(
            meter.used() >= Duration::from_millis(10),
            "{:?}",
            meter.used()
        );
    }

    #[tokio::test]
    async fn a_fast_call_stays_on_its_worker() {
        let lane = SlowLane::new(1, Duration::from_millis(50)).unwrap();
        let meter = Arc::new(CpuMeter::default());
        let mut call = lane.run(&meter, Box::pin(spin(1)), Instant::now());
        let thread = (&mut call).await;
        assert!(!call.moved());
        assert_ne!(thread, "hook-slow-lane");
    }

    #[tokio::test]
    async fn without_lane_threads_calls_never_move() {
        let lane = SlowLane::new(0, Duration::ZERO).unwrap();
        let meter = Arc::new(CpuMeter::default());
        let mut call = lane.run(&meter, Box::pin(spin(3)), Instant::now());
        (&mut call).await;
        assert!(!call.moved());
    }

    /// A finished call's end (its REPORT duration's) is its last poll's: after all its work,
    /// and no later than the caller could read the clock.
    #[tokio::test]
    async fn a_finished_call_ends_with_its_last_poll() {
        let lane = SlowLane::new(0, Duration::ZERO).unwrap();
        let meter = Arc::new(CpuMeter::default());
        let started = Instant::now();
        lane.run(&meter, Box::pin(spin(3)), Instant::now()).await;
        let after = Instant::now();
        let ended = meter.last_poll_ended();
        assert!(
            ended.duration_since(started) >= Duration::from_millis(6),
            "ended {:?} after the start, before the call's 6 ms of work",
            ended.duration_since(started)
        );
        assert!(ended <= after);
    }

    #[tokio::test]
    async fn dropping_a_moved_call_cancels_it_on_the_lane() {
        let lane = SlowLane::new(1, Duration::ZERO).unwrap();
        let meter = Arc::new(CpuMeter::default());
        let call = lane.run(&meter, Box::pin(spin(10_000)), Instant::now());
        // Long enough to move, far too short to finish.
        let timed_out = tokio::time::timeout(Duration::from_millis(30), call).await;
        assert!(timed_out.is_err());
        // The poll under way when the call was dropped ends at its next yield (later on a busy
        // machine: the meter counts time in the poll, preempted or not); after that, nothing.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped_at = meter.used();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            meter.used() <= stopped_at + Duration::from_millis(5),
            "the call kept running after it was dropped: {:?} → {:?}",
            stopped_at,
            meter.used()
        );
    }
}
