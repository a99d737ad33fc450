//! Benchmarks live in `benches/`; see `README.md` for how to run them and the recorded numbers.
//! This library holds what the criterion benches and the bare forwarder share.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Runs `call` `iters` times on inputs from `input`, timing only the calls: building the input
/// (cloning an event) and dropping the output stay outside the measured time, which criterion's
/// `iter_custom` then reports.
pub async fn time_each<I, O, Fut>(
    iters: u64,
    mut input: impl FnMut() -> I,
    mut call: impl FnMut(I) -> Fut,
) -> Duration
where
    Fut: Future<Output = O>,
{
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        let input = input();
        let started = Instant::now();
        let output = call(input).await;
        timed += started.elapsed();
        drop(output);
    }
    timed
}

/// Bytes an [`Evictor`] writes between two timed calls: eight times the development box's
/// 2 MiB L2 per core (twice the 8 MiB L3 of the box the first figures came from), so a call
/// finds nothing of its own in L1 or L2; on a box with a larger L3 it finds it there.
pub const EVICTED_BYTES: usize = 16 << 20;

/// Other work between two timed calls, taken to the extreme: the proxy's request handling
/// evicts part of what a hook call touches before the next call; this evicts all of it.
pub struct Evictor {
    other_work: Vec<u8>,
}

impl Evictor {
    pub fn new() -> Self {
        Evictor {
            other_work: vec![0; EVICTED_BYTES],
        }
    }

    /// Writes one byte per cache line of the whole buffer.
    pub fn evict(&mut self) {
        for i in (0..self.other_work.len()).step_by(64) {
            self.other_work[i] = self.other_work[i].wrapping_add(1);
        }
        std::hint::black_box(&self.other_work);
    }
}

impl Default for Evictor {
    fn default() -> Self {
        Self::new()
    }
}

/// A store's data for a bare component (the ladder's empty export, the bare forwarder's): what
/// its WASI imports need, nothing else.
pub struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl Wasi {
    /// An empty WASI context: no environment, no preopens, no inherited output.
    pub fn new() -> Wasi {
        Wasi {
            ctx: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        }
    }
}

impl Default for Wasi {
    fn default() -> Self {
        Self::new()
    }
}

impl WasiView for Wasi {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}
