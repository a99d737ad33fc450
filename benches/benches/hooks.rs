//! One hook invocation per trigger, on AWS's sample events: warm (a reused execution
//! environment) and per-request (instantiate + call + validate + drop); the warm no-op and
//! security-headers as a trigger runs them (`warm-lent`: Pingora's headers lent, the edits made
//! on them); the warm no-op with the CPU caches evicted before each call; and warm calls that
//! follow another thread's call of the same function, as calls on a node's several worker
//! threads do. Every case runs on the synchronous path, where a function without a fitting
//! budget starts; the `-sync` cases are the same with a 1 ms CPU budget, which keeps the
//! function there (the same calls: the two differ only in what stops a call past a tick).
//!
//! Run: `cargo bench -p edge-benches --bench hooks`. Numbers and machine: `benches/README.md`.

/// The proxy's allocator, so allocation costs are the ones the proxy pays.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use edge_benches::{time_each, Evictor};
use edge_event::{limits, CfEvent};
use edge_proxy::config::{FunctionConfig, Isolation};
use edge_proxy::hooks::HookRegistry;
use edge_test_artifacts as guests;

mod shared;

/// A trigger's name and its sample event's JSON.
type Sample = (&'static str, &'static str);

const EVENTS: [Sample; 4] = [
    (
        "viewer-request",
        include_str!("../../tests/vectors/cf-viewer-request.json"),
    ),
    (
        "origin-request",
        include_str!("../../tests/vectors/cf-origin-request.json"),
    ),
    (
        "origin-response",
        include_str!("../../tests/vectors/cf-origin-response.json"),
    ),
    (
        "viewer-response",
        include_str!("../../tests/vectors/cf-viewer-response.json"),
    ),
];

fn function(name: &str, module: &str, isolation: Isolation) -> FunctionConfig {
    with_budget(name, module, isolation, None)
}

/// A warm function with a CPU budget of 1 ms: within the default slow-lane threshold, so its
/// calls run synchronously.
fn synchronous(name: &str, module: &str) -> FunctionConfig {
    with_budget(name, module, Isolation::Warm, Some(1))
}

fn with_budget(
    name: &str,
    module: &str,
    isolation: Isolation,
    cpu_budget_ms: Option<u64>,
) -> FunctionConfig {
    FunctionConfig {
        name: name.into(),
        module: module.into(),
        memory_mb: 128,
        timeout_ms: None,
        env: Vec::new(),
        isolation,
        max_concurrency: 4,
        max_invocations: u64::MAX,
        idle_timeout: Duration::from_secs(3600),
        cpu_budget_ms,
    }
}

fn invocations(c: &mut Criterion) {
    let registry = HookRegistry::load(&[
        function("probe-warm", guests::FIXTURE_PROBE, Isolation::Warm),
        function("probe-fresh", guests::FIXTURE_PROBE, Isolation::PerRequest),
        function("noop-warm", guests::FIXTURE_NOOP, Isolation::Warm),
        function("noop-fresh", guests::FIXTURE_NOOP, Isolation::PerRequest),
        function("headers-warm", guests::SECURITY_HEADERS, Isolation::Warm),
        synchronous("noop-sync", guests::FIXTURE_NOOP),
        synchronous("headers-sync", guests::SECURITY_HEADERS),
        function(
            "headers-fresh",
            guests::SECURITY_HEADERS,
            Isolation::PerRequest,
        ),
    ])
    .expect("guests load");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Per-request isolation prepares fresh environments on a background task: a runtime with a
    // worker thread for it, as the proxy's runtimes have, so only the request's path is timed.
    let rt_background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("invoke");
    // (benchmark, function name prefix, events): the probe at every trigger; the no-op as the
    // floor of our path (the sample event in and straight back, nothing edited); a header hook.
    let cases: [(&str, &str, &[Sample]); 3] = [
        ("probe", "probe", &EVENTS),
        ("noop", "noop", &EVENTS[..1]),
        ("security-headers", "headers", &EVENTS[3..]),
    ];
    for (bench, function, events) in cases {
        for (trigger, json) in events {
            let mut event = CfEvent::from_aws_json(json).unwrap();
            limits::hide_disallowed(&mut event);
            let paths: &[(&str, &str)] = match bench {
                "probe" => &[("warm", "warm"), ("per-request", "fresh")],
                _ => &[
                    ("warm", "warm"),
                    ("warm-sync", "sync"),
                    ("per-request", "fresh"),
                ],
            };
            for &(label, suffix) in paths {
                let f = registry
                    .get(&format!("{function}-{suffix}"))
                    .unwrap()
                    .clone();
                // Each call timed on its own, the event cloned outside the timed part: the
                // proxy builds an event per call too, but that cost is `pieces`' and the ladder's.
                let rt = if suffix == "fresh" {
                    &rt_background
                } else {
                    &rt
                };
                group.bench_function(format!("{bench}/{trigger}/{label}"), |b| {
                    b.iter_custom(|iters| {
                        rt.block_on(time_each(
                            iters,
                            || event.clone(),
                            |event| async {
                                let (result, _) = f.invoke(event).await;
                                result.unwrap_or_else(|e| panic!("{bench} fails: {e}"))
                            },
                        ))
                    })
                });
            }
        }
    }
    // The proxy's own path: the event's header lists left empty and Pingora's headers lent in
    // their place, taken back after the call and the hook's edits made on them, as a trigger
    // runs it. The cases above carry the headers in the event (the path of `edge-proxy invoke`
    // and of tests); this one is what a request pays.
    for (bench, function, (trigger, json), (label, suffix)) in [
        ("noop", "noop", EVENTS[0], ("warm-lent", "warm")),
        ("noop", "noop", EVENTS[0], ("warm-lent-sync", "sync")),
        (
            "security-headers",
            "headers",
            EVENTS[3],
            ("warm-lent", "warm"),
        ),
        (
            "security-headers",
            "headers",
            EVENTS[3],
            ("warm-lent-sync", "sync"),
        ),
    ] {
        let f = registry
            .get(&format!("{function}-{suffix}"))
            .unwrap()
            .clone();
        let mut event = CfEvent::from_aws_json(json).unwrap();
        limits::hide_disallowed(&mut event);
        let (request, response) = shared::wire_headers(&mut event);
        // The trigger's own copy of the request id, lent to each call.
        let request_id = event.config.request_id.clone();
        group.bench_function(format!("{bench}/{trigger}/{label}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(time_each(
                    iters,
                    || (Box::new(event.clone()), request.clone(), response.clone()),
                    |(event, request, response)| {
                        shared::call_lending(&f, event, request, response, &request_id)
                    },
                ))
            })
        });
    }
    // Per-request isolation with its environments prepared: 50 µs between calls (not timed)
    // let the background task replace the used environment, as it does whenever a function is
    // not called back to back; only the call on the request's path is timed.
    let f = registry.get("noop-fresh").unwrap().clone();
    let mut event = CfEvent::from_aws_json(EVENTS[0].1).unwrap();
    limits::hide_disallowed(&mut event);
    group.bench_function("noop/viewer-request/per-request-prepared", |b| {
        b.iter_custom(|iters| {
            rt_background.block_on(time_each(
                iters,
                || {
                    std::thread::sleep(Duration::from_micros(50));
                    event.clone()
                },
                |event| async {
                    let (result, _) = f.invoke(event).await;
                    result.unwrap_or_else(|e| panic!("noop fails: {e}"))
                },
            ))
        })
    });
    // The warm no-op again, but after other work has evicted the CPU caches each time (the
    // proxy's request handling evicts some of them between two hook calls); only the invocation
    // is timed. The gap to the plain warm case is what a hook call costs in memory traffic.
    let mut event = CfEvent::from_aws_json(EVENTS[0].1).unwrap();
    limits::hide_disallowed(&mut event);
    for (label, name) in [
        ("warm-evicted-caches", "noop-warm"),
        ("warm-sync-evicted-caches", "noop-sync"),
    ] {
        let f = registry.get(name).unwrap().clone();
        group.bench_function(format!("noop/viewer-request/{label}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let f = f.clone();
                let event = event.clone();
                async move {
                    let mut evictor = Evictor::new();
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        evictor.evict();
                        let event = event.clone();
                        let started = Instant::now();
                        let (result, _) = f.invoke(event).await;
                        timed += started.elapsed();
                        result.unwrap_or_else(|e| panic!("noop fails: {e}"));
                    }
                    timed
                }
            })
        });
    }
    // Two threads calling one function in turn, as two workers of a node do: each call on the
    // bench's thread follows one on a helper thread (`warm-after-other-thread`), or one of its
    // own after the same hand-off (`warm-after-same-thread`, the floor). Both threads first call
    // at once for a while, so the function has an environment for each, as a busy node's has.
    // The gap is what a call pays for the cache lines the other core wrote last.
    for (bench, name, (trigger, json)) in [
        ("noop", "noop-warm", EVENTS[0]),
        ("security-headers", "headers-warm", EVENTS[3]),
    ] {
        let f = registry.get(name).unwrap().clone();
        let mut event = CfEvent::from_aws_json(json).unwrap();
        limits::hide_disallowed(&mut event);
        for (label, elsewhere) in [
            ("warm-after-same-thread", false),
            ("warm-after-other-thread", true),
        ] {
            prime_two_environments(&f, &event);
            let helper = OtherThread::start(f.clone(), event.clone());
            group.bench_function(format!("{bench}/{trigger}/{label}"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(time_each(
                        iters,
                        || {
                            helper.call(elsewhere);
                            if !elsewhere {
                                call_now(&f, event.clone())
                                    .unwrap_or_else(|e| panic!("{bench} fails: {e}"));
                            }
                            event.clone()
                        },
                        |event| async {
                            let (result, _) = f.invoke(event).await;
                            result.unwrap_or_else(|e| panic!("{bench} fails: {e}"))
                        },
                    ))
                })
            });
        }
    }
    group.finish();
}

/// A warm call on the synchronous path, completed where it is made: inside the bench's runtime,
/// where it cannot be awaited from a plain closure (such a call is ready at its first poll).
fn call_now(
    f: &edge_proxy::hooks::HookFunction,
    event: CfEvent,
) -> Result<edge_proxy::hooks::Validated, edge_proxy::hooks::HookError> {
    let mut call = std::pin::pin!(f.invoke(event));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready((result, _)) =
            std::future::Future::poll(call.as_mut(), &mut cx)
        {
            return result;
        }
    }
}

/// Calls `f` from two threads at once, so that it has an environment for each.
fn prime_two_environments(f: &std::sync::Arc<edge_proxy::hooks::HookFunction>, event: &CfEvent) {
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                for _ in 0..20_000 {
                    let (result, _) = rt.block_on(f.invoke(event.clone()));
                    result.expect("the priming call");
                }
            });
        }
    });
}

/// A thread that calls a function on request, so that the next call on the bench's thread
/// takes the environment it used.
struct OtherThread {
    ask: std::sync::mpsc::Sender<bool>,
    done: std::sync::mpsc::Receiver<()>,
}

impl OtherThread {
    fn start(f: std::sync::Arc<edge_proxy::hooks::HookFunction>, event: CfEvent) -> Self {
        let (ask, asked) = std::sync::mpsc::channel::<bool>();
        let (finished, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            for call in asked {
                if call {
                    let (result, _) = rt.block_on(f.invoke(event.clone()));
                    result.expect("the helper's call");
                }
                if finished.send(()).is_err() {
                    return;
                }
            }
        });
        OtherThread { ask, done }
    }

    /// Has the thread call the function (or only answer), and waits for it.
    fn call(&self, call: bool) {
        self.ask.send(call).unwrap();
        self.done.recv().unwrap();
    }
}

criterion_group!(benches, invocations);
criterion_main!(benches);
