//! What a hook's store carries: its WASI context (the narrow grant), resource table, memory
//! limit, this invocation's header maps, and its captured stdout/stderr.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::invocation::{HostHeaderMap, HostResponseData, RequestChanges};
use super::lane::CpuMeter;
use super::lent::LentFields;
use super::memory_budget::MemoryBudget;
use edge_event::CfEvent;

/// Most bytes of guest output kept between two log flushes; the rest is dropped (and said so).
const MAX_CAPTURED_OUTPUT: usize = 64 * 1024;

/// Per-instance store data.
pub struct HookState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// CPU time of the running call (or initialization), shared with the slow lane.
    pub(crate) cpu: Arc<CpuMeter>,
    /// CPU the running call may use before the epoch callback stops it.
    pub(crate) cpu_budget: std::time::Duration,
    /// Whether calls run synchronously (the function is on the synchronous path and its
    /// instance is made): the epoch callback may not yield, and enforces `call_timeout` itself.
    pub(crate) synchronous: bool,
    /// The running synchronous call's timeout (an asynchronous call's is its future's timer).
    pub(crate) call_timeout: std::time::Duration,
    /// For a function without a budget that fits the synchronous path, run on it until a call
    /// outgrows it: the CPU a synchronous call may use before it is stopped and run again
    /// asynchronously (the slow lane's threshold). `None` on either path proper.
    pub(crate) speculate_until: Option<std::time::Duration>,
    /// The event response's status description as the event had it, kept when the hook first
    /// sets another: a call that leaves the synchronous path gives the event back as it came.
    pub(crate) event_description: Option<String>,
    /// The running invocation's event; its header maps are in `header_maps`.
    pub(crate) event: Option<Box<CfEvent>>,
    /// What the running event lends besides its header maps.
    pub(crate) lent: LentFields,
    /// What the hook set on the event's request.
    pub(crate) changes: RequestChanges,
    /// The event's response (response events, index 0) and responses the hook generated.
    pub(crate) responses: Vec<HostResponseData>,
    /// Header maps of the current invocation, indexed by [`super::headers::HeaderSlot`].
    pub(crate) header_maps: Vec<HostHeaderMap>,
    /// Read-only header names at the current invocation's trigger.
    pub(crate) read_only: &'static [&'static str],
    /// Bumped per invocation so stale handles are refused.
    pub(crate) generation: u64,
    pub(crate) output: CapturedOutput,
}

impl HookState {
    /// State for a new instance: `env` as its environment, memory capped at `memory_bytes` and
    /// granted from the node-wide `budget`, CPU per call capped at `cpu_budget`.
    pub fn new(
        env: &[(String, String)],
        memory_bytes: usize,
        budget: Arc<MemoryBudget>,
        cpu_budget: std::time::Duration,
    ) -> Self {
        let output = CapturedOutput::default();
        let wasi = WasiCtxBuilder::new()
            .envs(env)
            .stdout(output.clone())
            .stderr(output.stderr_writer())
            .build();
        HookState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_bytes,
                peak: 0,
                budget,
                charged: 0,
            },
            cpu: Arc::default(),
            cpu_budget,
            synchronous: false,
            call_timeout: std::time::Duration::MAX,
            speculate_until: None,
            event_description: None,
            event: None,
            lent: LentFields::default(),
            changes: RequestChanges::default(),
            responses: Vec::new(),
            header_maps: Vec::new(),
            read_only: &[],
            generation: 0,
            output,
        }
    }
}

impl HookState {
    /// The running invocation's event.
    pub(crate) fn invocation(&self) -> wasmtime::Result<&CfEvent> {
        self.event
            .as_deref()
            .ok_or_else(|| wasmtime::format_err!("no invocation is running"))
    }

    /// Refuses a handle of `kind` made by an earlier invocation of this warm instance.
    pub(crate) fn check_generation(&self, generation: u64, kind: &str) -> wasmtime::Result<()> {
        if generation != self.generation || self.event.is_none() {
            return Err(wasmtime::format_err!(
                "{kind} handle used after its invocation ended"
            ));
        }
        Ok(())
    }

    /// Adds an empty header map to the invocation (for a generated response or `headers()`'s
    /// constructor), returning its index.
    pub(crate) fn new_header_map(&mut self) -> wasmtime::Result<usize> {
        let index = self.header_maps.len();
        if index >= MAX_HEADER_MAPS {
            return Err(wasmtime::format_err!(
                "more than {MAX_HEADER_MAPS} header maps in one invocation"
            ));
        }
        self.header_maps.push(HostHeaderMap::default());
        Ok(index)
    }
}

/// Most header maps one invocation may make, so a looping hook cannot grow host memory.
const MAX_HEADER_MAPS: usize = 64;

/// Enforces `memory-mb` and remembers the largest memory the instance asked for (Lambda's
/// "Max Memory Used").
pub struct MemoryLimiter {
    limit: usize,
    pub(crate) peak: usize,
    /// The node-wide budget this environment's memory is granted from.
    budget: Arc<MemoryBudget>,
    /// Bytes granted from `budget`, returned when the environment is dropped.
    charged: usize,
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(wasmtime::format_err!(
                "memory limit exceeded: wanted {} MB of {} MB",
                desired.div_ceil(1 << 20),
                self.limit >> 20
            ));
        }
        let more = desired.saturating_sub(current);
        self.budget.charge(more)?;
        self.charged += more;
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl WasiView for HookState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A guest's stdout and stderr, collected so each invocation's output can be logged with the
/// function name and request id; the end of stderr is also kept on its own, since a guest that
/// traps says why there (a Rust panic message, a Python traceback).
#[derive(Clone, Default)]
pub struct CapturedOutput {
    buf: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Whether anything was written since the last [`CapturedOutput::take`].
    written: Arc<AtomicBool>,
    is_stderr: bool,
}

/// How much of the end of stderr is kept for the failure message.
const STDERR_TAIL: usize = 4096;

impl CapturedOutput {
    /// The writer the guest's stderr goes to: the same log, and the kept tail.
    pub fn stderr_writer(&self) -> Self {
        CapturedOutput {
            is_stderr: true,
            ..self.clone()
        }
    }

    /// Whether anything was written since the last [`CapturedOutput::take`] (one atomic load,
    /// so a call that printed nothing takes no lock).
    pub fn written(&self) -> bool {
        self.written.load(Ordering::Acquire)
    }

    /// Takes what was written since the last call, and the end of what of it went to stderr.
    pub fn take(&self) -> (Vec<u8>, Vec<u8>) {
        self.written.store(false, Ordering::Release);
        (
            std::mem::take(&mut *self.buf.lock().expect("output lock")),
            std::mem::take(&mut *self.stderr.lock().expect("output lock")),
        )
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    /// The guest's stream writes straight into the buffers. WASI's default adapter would start a
    /// task to copy each stream's writes, and a write waiting on it could not finish within a
    /// call that never yields (the synchronous path, `sync_wasi`).
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl CapturedOutput {
    /// Keeps `data` (up to the cap; the end of stderr in its tail too). Everything counts as
    /// written: a chatty guest loses output, never blocks.
    fn append(&self, data: &[u8]) {
        let mut buf = self.buf.lock().expect("output lock");
        self.written.store(true, Ordering::Release);
        let room = MAX_CAPTURED_OUTPUT.saturating_sub(buf.len());
        buf.extend_from_slice(&data[..data.len().min(room)]);
        if self.is_stderr {
            let mut tail = self.stderr.lock().expect("output lock");
            tail.extend_from_slice(&data[data.len().saturating_sub(STDERR_TAIL)..]);
            let over = tail.len().saturating_sub(STDERR_TAIL);
            tail.drain(..over);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    /// Always writable.
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

/// How much a guest may write at once: a bounded step, so a write needs no large buffer.
const WRITE_PERMIT: usize = 4096;

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
