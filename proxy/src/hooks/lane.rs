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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::epoch::EPOCH_TICK;

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

/// CPU time the calling thread has used, in nanoseconds (0 where the clock cannot be read: a
/// call is then bounded by its timeout alone).
fn thread_cpu_nanos() -> u64 {
    thread_cpu_time().as_nanos() as u64
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_THREAD_CPUTIME_ID needs nothing else. On
    // failure it stays zero.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Spends `cpu` of the calling thread's own CPU time: a call that uses CPU, in tests.
#[cfg(test)]
pub(super) fn burn_cpu(cpu: Duration) {
    let start = thread_cpu_time();
    while thread_cpu_time() - start < cpu {
        std::hint::spin_loop();
    }
}

/// Why the epoch callback stopped a call: it used its function's `cpu-budget-ms`.
#[derive(Debug, thiserror::Error)]
#[error("used its CPU budget of {budget_ms} ms")]
pub struct CpuBudgetExceeded {
    /// The budget, ms.
    pub budget_ms: u64,
}

/// CPU time of the running invocation, on whichever thread: the time spent inside its polls
/// until its first epoch tick (at most a tick of it: a call that ends before one, nearly all,
/// reads no clock but the monotonic one), the polling thread's own CPU clock from there, so a
/// long call is not charged for time the host gave its thread's CPU to something else. Shared
/// with the store, whose epoch callback enforces the function's CPU budget ([`CpuMeter::tick`]).
#[derive(Debug)]
pub struct CpuMeter {
    anchor: Instant,
    /// Nanoseconds used by finished polls.
    used: AtomicU64,
    /// When the poll running now began (nanoseconds after `anchor`), or `IDLE`.
    poll_started: AtomicU64,
    /// When the last poll ended (nanoseconds after `anchor`).
    poll_ended: AtomicU64,
    /// Whether the call has had an epoch tick: its polls are counted by the thread's clock.
    by_thread_clock: AtomicBool,
    /// The polling thread's CPU time (nanoseconds) from which the running poll is counted by
    /// that clock, or `IDLE` while it is counted by the monotonic one.
    thread_clock_from: AtomicU64,
    /// Nanoseconds of the running poll counted before `thread_clock_from`.
    before_thread_clock: AtomicU64,
}

const IDLE: u64 = u64::MAX;

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter {
            anchor: Instant::now(),
            used: AtomicU64::new(0),
            poll_started: AtomicU64::new(IDLE),
            poll_ended: AtomicU64::new(0),
            by_thread_clock: AtomicBool::new(false),
            thread_clock_from: AtomicU64::new(IDLE),
            before_thread_clock: AtomicU64::new(0),
        }
    }
}

impl CpuMeter {
    /// Starts a new invocation at zero.
    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
        self.poll_started.store(IDLE, Ordering::Relaxed);
        self.by_thread_clock.store(false, Ordering::Relaxed);
        self.thread_clock_from.store(IDLE, Ordering::Relaxed);
    }

    /// CPU used so far, counting the poll in progress (read on the polling thread while a
    /// poll runs: the thread's clock is its own).
    pub fn used(&self) -> Duration {
        let done = self.used.load(Ordering::Relaxed);
        let started = self.poll_started.load(Ordering::Relaxed);
        let running = match (started, self.thread_clock_from.load(Ordering::Relaxed)) {
            (IDLE, _) => 0,
            (s, IDLE) => self.now().saturating_sub(s),
            (_, from) => self.by_thread_clock_since(from),
        };
        Duration::from_nanos(done + running)
    }

    /// CPU used so far, at an epoch tick of the running poll (on its thread): from the call's
    /// first tick on, its polls are counted by the thread's own clock, and of the time before
    /// that tick at most a tick (all a call can have run before its first tick).
    pub fn tick(&self) -> Duration {
        let started = self.poll_started.load(Ordering::Relaxed);
        if started == IDLE || self.thread_clock_from.load(Ordering::Relaxed) != IDLE {
            return self.used();
        }
        // The first tick: what ran so far is charged as it was timed, at most a tick, and
        // nothing more (a call descheduled for a tick is not past a one-tick threshold yet).
        let before = self
            .now()
            .saturating_sub(started)
            .min(EPOCH_TICK.as_nanos() as u64);
        self.before_thread_clock.store(before, Ordering::Relaxed);
        self.thread_clock_from
            .store(thread_cpu_nanos(), Ordering::Relaxed);
        self.by_thread_clock.store(true, Ordering::Relaxed);
        Duration::from_nanos(self.used.load(Ordering::Relaxed) + before)
    }

    /// Wall-clock time of the poll running now (a synchronous call's whole run so far).
    pub fn in_poll(&self) -> Duration {
        match self.poll_started.load(Ordering::Relaxed) {
            IDLE => Duration::ZERO,
            s => Duration::from_nanos(self.now().saturating_sub(s)),
        }
    }

    /// The running poll's time, counted by the thread's clock since `from`.
    fn by_thread_clock_since(&self, from: u64) -> u64 {
        self.before_thread_clock.load(Ordering::Relaxed) + thread_cpu_nanos().saturating_sub(from)
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
        if self.by_thread_clock.load(Ordering::Relaxed) {
            self.before_thread_clock.store(0, Ordering::Relaxed);
            self.thread_clock_from
                .store(thread_cpu_nanos(), Ordering::Relaxed);
        }
        start
    }

    /// Ends what [`CpuMeter::begin`] started, adding its time.
    pub fn end(&self, start: u64) {
        let end = self.now();
        let took = match self.thread_clock_from.swap(IDLE, Ordering::Relaxed) {
            IDLE => end.saturating_sub(start),
            from => self.by_thread_clock_since(from),
        };
        self.poll_started.store(IDLE, Ordering::Relaxed);
        self.poll_ended.store(end, Ordering::Relaxed);
        self.used.fetch_add(took, Ordering::Relaxed);
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

    /// Asserts that a 5 ms poll of `meter` ending before any epoch tick is charged in full,
    /// though its thread slept through it: such a call reads no thread clock.
    fn assert_unticked_poll_is_timed(meter: &CpuMeter) {
        let before = meter.used();
        let start = meter.begin(None);
        std::thread::sleep(Duration::from_millis(5));
        meter.end(start);
        let charged = meter.used() - before;
        assert!(charged >= Duration::from_millis(5), "{charged:?}");
    }

    #[test]
    fn a_call_that_ends_before_an_epoch_tick_is_charged_its_time_in_the_poll() {
        assert_unticked_poll_is_timed(&CpuMeter::default());
    }

    #[test]
    fn past_its_first_tick_a_call_is_charged_its_threads_cpu_not_time_off_the_cpu() {
        let meter = CpuMeter::default();
        let start = meter.begin(None);
        // Off the CPU before the first tick: at most a tick of it counts.
        std::thread::sleep(Duration::from_millis(10));
        assert!(meter.tick() < EPOCH_TICK * 2, "{:?}", meter.tick());
        // Off the CPU after it: none of it counts; on it, all of it.
        std::thread::sleep(Duration::from_millis(20));
        assert!(meter.tick() < EPOCH_TICK * 2, "{:?}", meter.tick());
        burn_cpu(Duration::from_millis(5));
        assert!(
            meter.tick() >= Duration::from_millis(5),
            "{:?}",
            meter.tick()
        );
        meter.end(start);
        let first_poll = meter.used();
        assert!(first_poll < Duration::from_millis(10), "{first_poll:?}");
        // The call's later polls are counted by the thread's clock from their start.
        let start = meter.begin(None);
        std::thread::sleep(Duration::from_millis(20));
        meter.end(start);
        assert!(
            meter.used() < first_poll + Duration::from_millis(3),
            "{:?} after {first_poll:?}",
            meter.used()
        );
        // A new call starts on the monotonic clock again.
        meter.reset();
        assert_unticked_poll_is_timed(&meter);
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
