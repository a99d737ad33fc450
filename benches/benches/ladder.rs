//! The invocation cost ladder: one layer at a time on the same warm instance, so each row's
//! increment says where a hook call's time goes (and keeps it from coming back).
//!
//! - `1a`/`1b`: an empty component export (`fixture-empty-export`), called synchronously, then
//!   asynchronously (the proxy's calls are async: guests yield at every epoch tick);
//! - `2`: a hook that reads nothing (`fixture-ladder`, `LADDER=nothing`) through the proxy's
//!   whole invocation: pool, store and limiter reset, the event's handles, the call, the
//!   outcome lifted and validated, the `REPORT` figures;
//! - `3`: + one scalar read (the uri); `4`: + one header read (`get-first`); `5`: + one header
//!   write;
//! - `6`: the header-write rung as a trigger runs it: Pingora's request header lent to the
//!   call in place of the event's list, taken back, and the hook's edit made on it;
//! - `-evicted` (rows 1a, 1b, 2): the same call after 16 MiB of other work evicted L1 and L2,
//!   as a request's other work does in part between two hook calls: what of a cold call is the
//!   engine's own, and what the proxy's invocation adds;
//! - `-sync` (rows 2 and 6): the same function with a 1 ms CPU budget, which puts it on the
//!   synchronous path (no fiber, no timer, no slow lane): row 2's twin of row 1a.
//!
//! Each invocation's event is cloned outside the timed part (each call is timed on its own). Run:
//! `cargo bench -p edge-benches --bench ladder`. Figures: `benches/README.md`.

/// The proxy's allocator, so allocation costs are the ones the proxy pays.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use edge_benches::{time_each, Evictor, Wasi};
use edge_event::{limits, CfEvent};
use edge_proxy::config::{FunctionConfig, Isolation};
use edge_proxy::edge::event_wire::{self, LentHeader};
use edge_proxy::hooks::{Decision, HookRegistry, Lent};
use edge_test_artifacts as guests;
use pingora::http::RequestHeader;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

const VIEWER_REQUEST: &str = include_str!("../../tests/vectors/cf-viewer-request.json");

/// Rows 1 and 2: the empty export on a warm instance, sync and async.
fn empty_export(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("ladder");
    for asynchronous in [false, true] {
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        let component = Component::from_file(&engine, guests::FIXTURE_EMPTY_EXPORT).unwrap();
        let mut linker = Linker::<Wasi>::new(&engine);
        let mut store = Store::new(&engine, Wasi::new());
        store.set_epoch_deadline(u64::MAX / 2);
        if asynchronous {
            wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
            let instance = rt
                .block_on(linker.instantiate_async(&mut store, &component))
                .unwrap();
            let run = instance
                .get_typed_func::<(), ()>(&mut store, "run")
                .unwrap();
            group.bench_function("1b-empty-export-async", |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iters {
                            run.call_async(&mut store, ()).await.unwrap();
                        }
                        started.elapsed()
                    })
                })
            });
            group.bench_function("1b-empty-export-async-evicted", |b| {
                b.iter_custom(|iters| {
                    let mut evictor = Evictor::new();
                    rt.block_on(async {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            evictor.evict();
                            let started = Instant::now();
                            run.call_async(&mut store, ()).await.unwrap();
                            timed += started.elapsed();
                        }
                        timed
                    })
                })
            });
        } else {
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
            let instance = linker.instantiate(&mut store, &component).unwrap();
            let run = instance
                .get_typed_func::<(), ()>(&mut store, "run")
                .unwrap();
            group.bench_function("1a-empty-export-sync", |b| {
                b.iter(|| run.call(&mut store, ()).unwrap())
            });
            group.bench_function("1a-empty-export-sync-evicted", |b| {
                b.iter_custom(|iters| {
                    let mut evictor = Evictor::new();
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        evictor.evict();
                        let started = Instant::now();
                        run.call(&mut store, ()).unwrap();
                        timed += started.elapsed();
                    }
                    timed
                })
            });
        }
    }
    group.finish();
}

/// The ladder fixture at `rung`, named `name`; with a 1 ms CPU budget (the synchronous path)
/// when `synchronous`.
fn function(name: &str, rung: &str, synchronous: bool) -> FunctionConfig {
    FunctionConfig {
        name: name.into(),
        module: guests::FIXTURE_LADDER.into(),
        memory_mb: 128,
        timeout_ms: None,
        env: vec![("LADDER".into(), rung.into())],
        isolation: Isolation::Warm,
        max_concurrency: 4,
        max_invocations: u64::MAX,
        idle_timeout: Duration::from_secs(3600),
        cpu_budget_ms: synchronous.then_some(1),
    }
}

/// Rows 3 to 7: the proxy's invocation, with more guest work per row, then the conversions.
fn hook_rungs(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let rungs = ["nothing", "uri", "header-read", "header-write"];
    let mut functions = rungs.map(|rung| function(rung, rung, false)).to_vec();
    functions.push(function("nothing-sync", "nothing", true));
    functions.push(function("header-write-sync", "header-write", true));
    let registry = HookRegistry::load(&functions).expect("ladder loads");
    let mut event = CfEvent::from_aws_json(VIEWER_REQUEST).unwrap();
    limits::hide_disallowed(&mut event);
    let mut group = c.benchmark_group("ladder");
    for (row, rung) in rungs.iter().enumerate() {
        let f = registry.get(rung).unwrap().clone();
        group.bench_function(format!("{}-hook-{rung}", row + 2), |b| {
            b.iter_custom(|iters| {
                rt.block_on(time_each(
                    iters,
                    || event.clone(),
                    |event| async {
                        let (result, _) = f.invoke(event).await;
                        result.unwrap_or_else(|e| panic!("{rung} fails: {e}"))
                    },
                ))
            })
        });
    }
    let f = registry.get("nothing-sync").unwrap().clone();
    group.bench_function("2-hook-nothing-sync", |b| {
        b.iter_custom(|iters| {
            rt.block_on(time_each(
                iters,
                || event.clone(),
                |event| async {
                    let (result, _) = f.invoke(event).await;
                    result.unwrap_or_else(|e| panic!("nothing-sync fails: {e}"))
                },
            ))
        })
    });
    // Row 2 again with the caches evicted before each call (beside rows 1a and 1b's).
    for name in ["nothing", "nothing-sync"] {
        let f = registry.get(name).unwrap().clone();
        group.bench_function(format!("2-hook-{name}-evicted"), |b| {
            b.iter_custom(|iters| {
                let mut evictor = Evictor::new();
                rt.block_on(time_each(
                    iters,
                    || {
                        evictor.evict();
                        event.clone()
                    },
                    |event| async {
                        let (result, _) = f.invoke(event).await;
                        result.unwrap_or_else(|e| panic!("{name} fails: {e}"))
                    },
                ))
            })
        });
    }
    // Row 6: the header-write rung as a trigger runs it: the request's header lent in place of
    // the event's list (left empty), taken back after the call, the edit made on it.
    let mut viewer = RequestHeader::build("GET", b"/", None).unwrap();
    for line in event.request.headers.iter() {
        viewer.append_header(line.key.clone(), &line.value).unwrap();
    }
    let mut bare = event.clone();
    bare.request.headers = Default::default();
    // The trigger's own copy of the request id, lent to each call.
    let request_id = bare.config.request_id.clone();
    for name in ["header-write", "header-write-sync"] {
        let f = registry.get(name).unwrap().clone();
        group.bench_function(format!("6-hook-{name}-lent"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(time_each(
                    iters,
                    || (Box::new(bare.clone()), viewer.clone()),
                    |(event, viewer)| async {
                        let lent = LentHeader::new(viewer);
                        let lent_parts = Lent {
                            request: Some(lent.clone()),
                            response: None,
                            origin: None,
                            client_ip: None,
                        };
                        let (result, _) = f.invoke_lending(event, lent_parts, &request_id).await;
                        let mut viewer = lent.take_back().expect("lent back");
                        let mut decided = result.unwrap_or_else(|e| panic!("{name} fails: {e}"));
                        let Decision::Changed(validated) = &mut decided else {
                            panic!("{name} writes a header: its request changes");
                        };
                        if let edge_event::HookOutcome::Request(r) = &mut validated.outcome {
                            let headers = std::mem::take(&mut r.headers);
                            event_wire::apply_headers(
                                &mut viewer,
                                headers,
                                &validated.header_edits,
                            )
                            .unwrap();
                        }
                        (decided, viewer)
                    },
                ))
            })
        });
    }
    group.finish();
}

fn ladder(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    empty_export(c, &rt);
    hook_rungs(c, &rt);
}

criterion_group!(benches, ladder);
criterion_main!(benches);
