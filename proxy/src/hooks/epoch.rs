//! The thread that advances the engine's epoch: every [`EPOCH_TICK`] while wasm may run, so
//! running guests yield (and a call past its CPU budget is stopped), and not at all once none
//! has run for [`IDLE_TICKS`] ticks.
//!
//! A tick is a timer wake-up, and a wake-up is dear on a virtual machine: 19–30 µs of CPU each on
//! the development VM, so ticking for ever cost an idle node with hooks 2.4 % of a core (and kept
//! a laptop running a local proxy from sleeping its CPU). Whatever runs wasm — a call, an
//! instantiation — holds a [`Running`] while it may; the first one after the thread has gone to
//! sleep wakes it before any guest code runs. Under load nothing changes: some wasm runs in
//! nearly every tick, so the thread never sleeps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances while wasm may run. Running guests yield to the async runtime
/// at every tick (and a call past its CPU budget is stopped there), so a spinning hook holds a
/// worker thread for at most about this long at a time before it moves to the slow lane
/// (`lane.rs`). At 10 ms each wake-up's cost would drop tenfold, but a spinning call would then
/// hold its worker ten times longer before it can move.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks in a row in which no wasm ran and none began before the thread goes to sleep.
pub const IDLE_TICKS: u32 = 100;

/// One per engine: counts what runs wasm, and wakes the ticking thread for it.
#[derive(Debug, Default)]
pub struct EpochTicker {
    /// Low 32 bits: holders of a [`Running`] now; high 32 bits: how many began (wrapping). One
    /// atomic add when one begins, one when it ends.
    state: AtomicU64,
    /// The thread sleeps (or is about to) until a [`Running`] begins.
    asleep: AtomicBool,
    thread: OnceLock<Thread>,
}

const ONE_RUNNING: u64 = 1;
const ONE_BEGUN: u64 = 1 << 32;

impl EpochTicker {
    /// Starts the ticking thread of `engine`; it ends when the ticker is dropped (the last
    /// function of the engine gone) or the engine is.
    pub fn start(engine: &Engine) -> std::io::Result<Arc<EpochTicker>> {
        let ticker = Arc::new(EpochTicker::default());
        let engine = engine.weak();
        let shared = Arc::downgrade(&ticker);
        let handle = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                let mut idle = 0;
                let mut seen = None;
                loop {
                    let (Some(engine), Some(ticker)) = (engine.upgrade(), shared.upgrade()) else {
                        return;
                    };
                    engine.increment_epoch();
                    drop(engine);
                    let now = ticker.state.load(Ordering::SeqCst);
                    idle = if seen == Some(now) && running(now) == 0 {
                        idle + 1
                    } else {
                        0
                    };
                    seen = Some(now);
                    if idle < IDLE_TICKS {
                        drop(ticker);
                        std::thread::sleep(EPOCH_TICK);
                        continue;
                    }
                    // Asleep only if nothing began since the flag was raised: a `Running` that
                    // began first is seen here, one that begins after sees the flag and wakes
                    // the thread. The ticker is not held while asleep: its drop wakes the thread
                    // to end. `idle` stays: unless something began, the next tick sleeps again.
                    ticker.asleep.store(true, Ordering::SeqCst);
                    let sleep = ticker.state.load(Ordering::SeqCst) == now;
                    drop(ticker);
                    if sleep {
                        std::thread::park();
                    }
                    if let Some(ticker) = shared.upgrade() {
                        ticker.asleep.store(false, Ordering::SeqCst);
                    }
                }
            })?;
        ticker
            .thread
            .set(handle.thread().clone())
            .expect("set once, here");
        Ok(ticker)
    }

    /// Marks wasm as possibly running until the returned guard drops, waking the thread first
    /// if it sleeps. Hold it inside the future that runs the wasm, so that it lives as long as
    /// that future, wherever it is polled.
    pub fn running(self: &Arc<Self>) -> Running {
        self.begin();
        Running(self.clone())
    }

    /// Runs `f` (wasm run synchronously on this thread) with the ticker ticking: what
    /// [`EpochTicker::running`] does for a future, without a guard to share.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        self.begin();
        let _running = RunningHere(self);
        f()
    }

    fn begin(&self) {
        self.state
            .fetch_add(ONE_RUNNING + ONE_BEGUN, Ordering::SeqCst);
        if self.asleep.load(Ordering::SeqCst) && self.asleep.swap(false, Ordering::SeqCst) {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    fn end(&self) {
        self.state.fetch_sub(ONE_RUNNING, Ordering::SeqCst);
    }

    /// Whether the thread sleeps (no wasm has run for [`IDLE_TICKS`] ticks).
    #[cfg(test)]
    fn asleep(&self) -> bool {
        self.asleep.load(Ordering::SeqCst)
    }
}

impl Drop for EpochTicker {
    /// Wakes a sleeping thread to end: nothing can run wasm on its engine any more.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }
}

fn running(state: u64) -> u64 {
    state & (ONE_BEGUN - 1)
}

/// Wasm may run while this lives (see [`EpochTicker::running`]).
#[derive(Debug)]
pub struct Running(Arc<EpochTicker>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// [`Running`] for a synchronous run, on its thread's stack (ends it should `f` unwind).
struct RunningHere<'a>(&'a EpochTicker);

impl Drop for RunningHere<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;
    use wasmtime::{Config, Module, Store};

    /// `(module (func (export "spin") (loop (br 0))))`: runs until the epoch interrupts it.
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
        0x03, 0x02, 0x01, 0x00, // functions: one of type 0
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
    ];

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_thread_sleeps_when_no_wasm_runs_and_a_guest_after_that_is_still_interrupted() {
        let engine = Engine::new(Config::new().epoch_interruption(true)).unwrap();
        let ticker = EpochTicker::start(&engine).unwrap();
        wait_until("the ticker never went to sleep", || ticker.asleep());

        // The first call after the idle spell: the epoch must advance for it, or it spins on.
        let running = ticker.running();
        assert!(!ticker.asleep());
        let module = Module::new(&engine, SPIN).unwrap();
        let (done, result) = mpsc::channel();
        let store_engine = engine.clone();
        std::thread::spawn(move || {
            let mut store = Store::new(&store_engine, ());
            store.set_epoch_deadline(1);
            let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
            let spin = instance
                .get_typed_func::<(), ()>(&mut store, "spin")
                .unwrap();
            let _ = done.send(spin.call(&mut store, ()));
        });
        let ended = result
            .recv_timeout(Duration::from_secs(10))
            .expect("the spinning guest was never interrupted");
        let trap = ended.unwrap_err();
        assert_eq!(
            trap.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt),
            "{trap:?}"
        );

        // While it is held, the thread keeps ticking; once dropped, it sleeps again.
        std::thread::sleep(EPOCH_TICK * (IDLE_TICKS + 20));
        assert!(!ticker.asleep());
        drop(running);
        wait_until("the ticker did not go back to sleep", || ticker.asleep());
    }
}
