//! The floor of any Pingora proxy: a `ProxyHttp` that forwards every request to one origin and
//! does nothing else, with jemalloc like edge-proxy. The load benchmark measures edge-proxy's
//! "hooks off" configuration against it.
//!
//! Given a component with an empty `run` export (`fixture-empty-export`), it also calls that
//! export at the four points where edge-proxy runs hooks (request, upstream request, upstream
//! response, response), asynchronously on a warm instance: the floor of four hooks on wasmtime,
//! which edge-proxy's four no-op hooks are measured against (`pingora-wasm4` in the load
//! benchmark).
//!
//! Usage: `bare-forwarder LISTEN_ADDR ORIGIN_ADDR [EMPTY_EXPORT_WASM]` (one worker thread).

use std::sync::Mutex;

use async_trait::async_trait;
use edge_benches::Wasi;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use wasmtime::component::{Component, Linker, TypedFunc};
use wasmtime::{Config, Engine, Store};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Forwards to `origin`, reusing connections (Pingora's default pool).
struct Forwarder {
    origin: String,
    empty_calls: Option<EmptyCalls>,
}

impl Forwarder {
    async fn call_empty(&self) {
        if let Some(calls) = &self.empty_calls {
            calls.call().await;
        }
    }
}

#[async_trait]
impl ProxyHttp for Forwarder {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(&self, _session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        self.call_empty().await;
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.origin.as_str(),
            false,
            String::new(),
        )))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        _upstream_request: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        self.call_empty().await;
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        self.call_empty().await;
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        self.call_empty().await;
        Ok(())
    }
}

/// An instance of the empty export: its store and the export.
type Warm = (Store<Wasi>, TypedFunc<(), ()>);

/// Warm instances of the empty export, one taken per call and put back after: nothing but the
/// engine's own call (and an idle-list lock) between the proxy and the guest.
struct EmptyCalls {
    engine: Engine,
    component: Component,
    linker: Linker<Wasi>,
    idle: Mutex<Vec<Warm>>,
}

impl EmptyCalls {
    fn load(path: &str) -> wasmtime::Result<EmptyCalls> {
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let component = Component::from_file(&engine, path)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Ok(EmptyCalls {
            engine,
            component,
            linker,
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn call(&self) {
        let taken = self.idle.lock().unwrap().pop();
        let (mut store, run) = match taken {
            Some(warm) => warm,
            None => self.instantiate().await,
        };
        run.call_async(&mut store, ())
            .await
            .expect("the empty export");
        self.idle.lock().unwrap().push((store, run));
    }

    async fn instantiate(&self) -> Warm {
        let mut store = Store::new(&self.engine, Wasi::new());
        // No epoch thread runs: the deadline is never reached.
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = self
            .linker
            .instantiate_async(&mut store, &self.component)
            .await
            .expect("the empty export instantiates");
        let run = instance
            .get_typed_func::<(), ()>(&mut store, "run")
            .expect("a `run` export");
        (store, run)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(origin)) = (args.next(), args.next()) else {
        eprintln!("usage: bare-forwarder LISTEN_ADDR ORIGIN_ADDR [EMPTY_EXPORT_WASM]");
        std::process::exit(2);
    };
    let empty_calls = args.next().map(|path| {
        EmptyCalls::load(&path).unwrap_or_else(|e| {
            eprintln!("bare-forwarder: {path}: {e:#}");
            std::process::exit(1);
        })
    });
    let conf = ServerConf {
        threads: 1,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let forwarder = Forwarder {
        origin,
        empty_calls,
    };
    let mut proxy = http_proxy_service(&server.configuration, forwarder);
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever();
}
