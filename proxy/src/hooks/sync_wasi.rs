//! The WASI a function on the synchronous path links against: what a hook may use (clocks,
//! randomness, environment, exit, stdio, streams and polls), none of what may wait on the
//! network or a file.
//!
//! WASI's own synchronous bindings run each operation that may wait to completion on the tokio
//! runtime the thread is in, which panics on one of the runtime's workers, where hooks run. Here
//! such an operation is polled once instead: stdio (written straight into the captured output)
//! and pollables that are ready finish in that poll; one that would wait traps, as a function
//! that is not allowed to wait. A component that imports `wasi:filesystem` or `wasi:sockets`
//! does not link here, and runs on the asynchronous path.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, io, random, sync};
use wasmtime_wasi::p2::{DynPollable, StreamError, StreamResult};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

use super::state::HookState;
use io::streams::{
    Host as AsyncStreams, HostInputStream as AsyncInputStream,
    HostOutputStream as AsyncOutputStream,
};
use sync::io::streams::{InputStream, OutputStream};

/// Adds the WASI interfaces of the synchronous path to `linker`.
pub(super) fn add_to_linker(linker: &mut Linker<HookState>) -> wasmtime::Result<()> {
    let l = linker;
    clocks::wall_clock::add_to_linker::<_, WasiClocks>(l, HookState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(l, HookState::clocks)?;
    random::random::add_to_linker::<_, WasiRandom>(l, HookState::random)?;
    random::insecure::add_to_linker::<_, WasiRandom>(l, HookState::random)?;
    random::insecure_seed::add_to_linker::<_, WasiRandom>(l, HookState::random)?;
    cli::exit::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::environment::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::stdin::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::stdout::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::stderr::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, HookState::cli)?;
    io::error::add_to_linker::<_, Table>(l, |s| &mut s.table)?;
    sync::io::poll::add_to_linker::<_, PolledOnce>(l, |s| PollOnce(&mut s.table))?;
    sync::io::streams::add_to_linker::<_, PolledOnce>(l, |s| PollOnce(&mut s.table))?;
    Ok(())
}

/// The resource table, as `wasi:io/error` reads it.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

/// The resource table, whose operations that may wait are polled once.
struct PollOnce<'a>(&'a mut ResourceTable);

struct PolledOnce;

impl HasData for PolledOnce {
    type Data<'a> = PollOnce<'a>;
}

/// Why a call on the synchronous path stopped: it would have waited.
#[derive(Debug, thiserror::Error)]
#[error("{0} would wait, and a function on the synchronous path may not (its cpu-budget-ms fits the node's slow-lane-after-ms)")]
pub struct WouldWait(&'static str);

impl WouldWait {
    /// The WASI operation that would have waited.
    pub fn operation(&self) -> &'static str {
        self.0
    }
}

/// `operation`'s result if it is ready at its first poll, else a trap.
fn poll_once<F: Future>(operation: &'static str, f: F) -> wasmtime::Result<F::Output> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(done) => Ok(done),
        Poll::Pending => Err(WouldWait(operation).into()),
    }
}

/// [`poll_once`] for an operation with a stream result.
fn stream_once<T, F>(operation: &'static str, f: F) -> StreamResult<T>
where
    F: Future<Output = StreamResult<T>>,
{
    poll_once(operation, f).map_err(StreamError::Trap)?
}

impl sync::io::poll::Host for PollOnce<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        poll_once("poll", io::poll::Host::poll(self.0, pollables))?
    }
}

impl sync::io::poll::HostPollable for PollOnce<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        // Never waits: it asks whether the pollable is ready.
        poll_once(
            "pollable.ready",
            io::poll::HostPollable::ready(self.0, pollable),
        )?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll_once(
            "pollable.block",
            io::poll::HostPollable::block(self.0, pollable),
        )?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        io::poll::HostPollable::drop(self.0, pollable)
    }
}

impl sync::io::streams::Host for PollOnce<'_> {
    fn convert_stream_error(
        &mut self,
        err: StreamError,
    ) -> wasmtime::Result<sync::io::streams::StreamError> {
        Ok(match AsyncStreams::convert_stream_error(self.0, err)? {
            io::streams::StreamError::LastOperationFailed(e) => {
                sync::io::streams::StreamError::LastOperationFailed(e)
            }
            io::streams::StreamError::Closed => sync::io::streams::StreamError::Closed,
        })
    }
}

impl sync::io::streams::HostOutputStream for PollOnce<'_> {
    fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        poll_once(
            "output-stream drop",
            AsyncOutputStream::drop(self.0, stream),
        )?
    }

    fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        AsyncOutputStream::check_write(self.0, stream)
    }

    fn write(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOutputStream::write(self.0, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        stream_once(
            "blocking-write-and-flush",
            AsyncOutputStream::blocking_write_and_flush(self.0, stream, bytes),
        )
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        stream_once(
            "blocking-write-zeroes-and-flush",
            AsyncOutputStream::blocking_write_zeroes_and_flush(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOutputStream::subscribe(self.0, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        AsyncOutputStream::write_zeroes(self.0, stream, len)
    }

    fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        AsyncOutputStream::flush(self.0, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        stream_once(
            "blocking-flush",
            AsyncOutputStream::blocking_flush(self.0, stream),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AsyncOutputStream::splice(self.0, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        stream_once(
            "blocking-splice",
            AsyncOutputStream::blocking_splice(self.0, dst, src, len),
        )
    }
}

impl sync::io::streams::HostInputStream for PollOnce<'_> {
    fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        poll_once("input-stream drop", AsyncInputStream::drop(self.0, stream))?
    }

    fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncInputStream::read(self.0, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        stream_once(
            "blocking-read",
            AsyncInputStream::blocking_read(self.0, stream, len),
        )
    }

    fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        AsyncInputStream::skip(self.0, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        stream_once(
            "blocking-skip",
            AsyncInputStream::blocking_skip(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<InputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncInputStream::subscribe(self.0, stream)
    }
}
