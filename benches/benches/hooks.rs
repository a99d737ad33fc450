//! One hook invocation per trigger, on AWS's sample events: warm (a reused execution
//! environment) and per-request (instantiate + call + validate + drop), as the proxy runs them.
//!
//! Run: `cargo bench -p edge-benches --bench hooks`. Numbers and machine: `benches/README.md`.

/// The proxy's allocator, so allocation costs are the ones the proxy pays.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use edge_proxy::config::{FunctionConfig, Isolation};
use edge_proxy::events::CfEvent;
use edge_proxy::hooks::HookRegistry;
use edge_test_artifacts as guests;

const EVENTS: [(&str, &str); 4] = [
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
    }
}

fn invocations(c: &mut Criterion) {
    let registry = HookRegistry::load(&[
        function("probe-warm", guests::FIXTURE_PROBE, Isolation::Warm),
        function("probe-fresh", guests::FIXTURE_PROBE, Isolation::PerRequest),
        function("noop-warm", guests::FIXTURE_NOOP, Isolation::Warm),
        function("noop-fresh", guests::FIXTURE_NOOP, Isolation::PerRequest),
        function("headers-warm", guests::SECURITY_HEADERS, Isolation::Warm),
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

    let mut group = c.benchmark_group("invoke");
    for (trigger, json) in EVENTS {
        let event = CfEvent::from_aws_json(json).unwrap();
        for (label, name) in [("warm", "probe-warm"), ("per-request", "probe-fresh")] {
            let f = registry.get(name).unwrap().clone();
            group.bench_function(format!("probe/{trigger}/{label}"), |b| {
                b.to_async(&rt).iter(|| async {
                    let (result, _) = f.invoke(event.clone()).await;
                    result.expect("probe succeeds")
                })
            });
        }
    }
    // The floor of our path: the sample event in and straight back, nothing edited.
    let event = CfEvent::from_aws_json(EVENTS[0].1).unwrap();
    for (label, name) in [("warm", "noop-warm"), ("per-request", "noop-fresh")] {
        let f = registry.get(name).unwrap().clone();
        group.bench_function(format!("noop/viewer-request/{label}"), |b| {
            b.to_async(&rt).iter(|| async {
                let (result, _) = f.invoke(event.clone()).await;
                result.expect("noop succeeds")
            })
        });
    }
    let event = CfEvent::from_aws_json(EVENTS[3].1).unwrap();
    for (label, name) in [("warm", "headers-warm"), ("per-request", "headers-fresh")] {
        let f = registry.get(name).unwrap().clone();
        group.bench_function(format!("security-headers/viewer-response/{label}"), |b| {
            b.to_async(&rt).iter(|| async {
                let (result, _) = f.invoke(event.clone()).await;
                result.expect("security-headers succeeds")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, invocations);
criterion_main!(benches);
