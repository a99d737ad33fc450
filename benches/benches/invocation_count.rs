//! Warm invocations of `HookFunction::invoke` in a loop, for counting their instructions under
//! callgrind (`benches/invocations.sh`), which stays put where criterion's timings do not.
//!
//! `invocation_count <function> <path> <calls>`: `function` is `noop` (on AWS's sample
//! viewer-request event) or `security-headers` (viewer-response); `path` is `starting` (no
//! budget: the function starts on the synchronous path, on probation), `fitting` (a 1 ms CPU
//! budget, which keeps it there) or `copy` (the event copied and dropped, as each call's is,
//! without the call); `lent` is `fitting` as a trigger calls it (criterion's `warm-lent-sync`:
//! Pingora's headers lent, the edits made on them), and `lent-copy` its inputs copied and
//! dropped. One function is loaded, with one slot: valgrind cannot map the address space the
//! pooling allocator reserves for more. Without arguments (a plain `cargo bench`) it does
//! nothing.
//!
//! `invocation_count empty sync <calls>` is the engine's floor beside them (the ladder's row
//! 1a): an empty component export (`fixture-empty-export`) called synchronously on a warm
//! instance, with no event, no handles and no outcome.

/// The proxy's allocator, so allocation costs are the ones the proxy pays.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::time::Duration;

use edge_benches::Wasi;
use edge_event::{limits, CfEvent};
use edge_proxy::config::{FunctionConfig, Isolation};
use edge_proxy::hooks::HookRegistry;
use edge_test_artifacts as guests;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

mod shared;

fn main() {
    // Cargo passes `--bench`; the three positional arguments are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [function, path, calls] = &args[..] else {
        eprintln!("invocation_count <noop|security-headers> <starting|fitting|copy|lent|lent-copy> <calls>, or empty sync <calls>: run by benches/invocations.sh");
        return;
    };
    let calls: usize = calls.parse().expect("calls is a number");
    if function == "empty" {
        assert_eq!(
            path, "sync",
            "the empty export is counted on the synchronous path"
        );
        return empty_export(calls);
    }
    let (module, json) = match function.as_str() {
        "noop" => (
            guests::FIXTURE_NOOP,
            include_str!("../../tests/vectors/cf-viewer-request.json"),
        ),
        "security-headers" => (
            guests::SECURITY_HEADERS,
            include_str!("../../tests/vectors/cf-viewer-response.json"),
        ),
        other => panic!("unknown function {other}"),
    };
    let config = FunctionConfig {
        name: function.clone(),
        module: module.into(),
        memory_mb: 128,
        timeout_ms: None,
        env: Vec::new(),
        isolation: Isolation::Warm,
        max_concurrency: 1,
        max_invocations: u64::MAX,
        idle_timeout: Duration::from_secs(3600),
        cpu_budget_ms: match path.as_str() {
            "starting" | "copy" => None,
            "fitting" | "lent" | "lent-copy" => Some(1),
            other => panic!("unknown path {other}"),
        },
    };
    let registry = HookRegistry::load(&[config]).expect("the guest loads");
    let f = registry.get(function).expect("loaded").clone();
    let mut event = CfEvent::from_aws_json(json).expect("AWS's sample event");
    limits::hide_disallowed(&mut event);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if path.starts_with("lent") {
        let (request, response) = shared::wire_headers(&mut event);
        let request_id = event.config.request_id.clone();
        return rt.block_on(async {
            for _ in 0..calls {
                let inputs = (Box::new(event.clone()), request.clone(), response.clone());
                if path == "lent-copy" {
                    drop(std::hint::black_box(inputs));
                    continue;
                }
                let (event, request, response) = inputs;
                let called = shared::call_lending(&f, event, request, response, &request_id);
                std::hint::black_box(called.await);
            }
        });
    }
    rt.block_on(async {
        for _ in 0..calls {
            let event = event.clone();
            if path == "copy" {
                drop(std::hint::black_box(event));
                continue;
            }
            let (result, _) = f.invoke(event).await;
            std::hint::black_box(result.unwrap_or_else(|e| panic!("{function} fails: {e}")));
        }
    });
}

/// `calls` synchronous calls of the empty export on one warm instance: what wasmtime itself
/// costs a call that crosses nothing.
fn empty_export(calls: usize) {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    let engine = Engine::new(&config).expect("engine");
    let component =
        Component::from_file(&engine, guests::FIXTURE_EMPTY_EXPORT).expect("the guest compiles");
    let mut linker = Linker::<Wasi>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI links");
    let mut store = Store::new(&engine, Wasi::new());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = linker
        .instantiate(&mut store, &component)
        .expect("the guest instantiates");
    let run = instance
        .get_typed_func::<(), ()>(&mut store, "run")
        .expect("the guest exports run");
    for _ in 0..calls {
        run.call(&mut store, ()).expect("the empty export returns");
    }
}
