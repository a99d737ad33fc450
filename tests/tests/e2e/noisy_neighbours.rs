//! A hook that burns CPU or memory must not take the rest of the node with it: the CPU budget,
//! the slow lane and the node-wide memory budget.

use std::time::{Duration, Instant};

use edge_test_artifacts as guests;

use crate::support::{client, raw_exchange_off_runtime, Origin, Proxy};

/// A proxy with `[node]` settings `node`, functions `functions`, `hook` on `/*` at viewer
/// request, and `spin` (the spinning fixture) on `/spin*` when `functions` defines it.
async fn node_with(node: &str, functions: &str, hook: &str) -> (Origin, Proxy) {
    let o = Origin::start("o").await;
    let spin = if functions.contains("[functions.spin]") {
        "[[behaviors]]\npath = \"/spin*\"\norigin = \"o\"\n[behaviors.hooks]\nviewer-request = { function = \"spin\" }\n"
    } else {
        ""
    };
    let proxy = Proxy::start(&format!(
        "[node]\n{node}\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n{functions}\n{spin}\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-request = {{ function = \"{hook}\" }}\n",
        o.addr
    ));
    (o, proxy)
}

fn function(name: &str, module: &str, extra: &str) -> String {
    format!("[functions.{name}]\nmodule = \"{module}\"\n{extra}\n")
}

/// The value of the sample `name` (with its labels) in the Prometheus text, if present.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_hook_over_its_cpu_budget_gets_503_before_its_timeout_and_the_log_says_why() {
    let functions = function("noop", guests::FIXTURE_NOOP, "")
        + &function(
            "spin",
            guests::FIXTURE_SPIN,
            "timeout-ms = 20000\ncpu-budget-ms = 100",
        );
    let (o, proxy) = node_with("", &functions, "noop").await;
    let started = Instant::now();
    let resp = client().get(proxy.url("/spin")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    // Stopped by the budget, not the 20 s timeout.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(o.hits(), 0);
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("hook failed")
            && l.contains("spin")
            && l.contains("stopped after 100 ms of CPU (cpu-budget-ms)")),
        "{log}"
    );
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "edge_hook_errors_total{function=\"spin\",kind=\"cpu-budget\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_call_past_a_fast_hooks_cpu_moves_to_the_slow_lane_and_its_cpu_is_counted() {
    let functions = function("noop", guests::FIXTURE_NOOP, "")
        + &function("spin", guests::FIXTURE_SPIN, "timeout-ms = 300");
    let (_o, proxy) = node_with("worker-threads = 1", &functions, "noop").await;
    assert_eq!(proxy.status("/spin").await, 503);
    assert_eq!(proxy.status("/fast").await, 200);
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(&metrics, "edge_hook_slow_lane_total{function=\"spin\"}"),
        Some(1.0),
        "{metrics}"
    );
    let spin_cpu = sample(&metrics, "edge_hook_cpu_seconds_total{function=\"spin\"}").unwrap();
    let noop_cpu = sample(&metrics, "edge_hook_cpu_seconds_total{function=\"noop\"}").unwrap();
    // At least the slow-lane threshold (1 ms) it used before it moved; on the lane its
    // thread's own CPU until the 300 ms timeout, which on a busy machine may be a small share
    // of those 300 ms (the budget test above is stopped by CPU counted on the lane).
    assert!(spin_cpu >= 0.001, "spin used {spin_cpu} s of CPU");
    assert!(noop_cpu < spin_cpu, "noop {noop_cpu} s, spin {spin_cpu} s");
    // Neither budget fits the synchronous path: both start there; the spinner's call used
    // more than a fast hook's CPU, left it, and ran again where it could move to the lane.
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("spin")
            && l.contains(
                "moves to the asynchronous path: a call used more CPU than slow-lane-after-ms"
            )),
        "{log}"
    );
    assert_eq!(moves(&log, "noop"), 0, "{log}");
}

#[tokio::test]
async fn with_one_worker_healthy_requests_finish_while_four_hooks_spin() {
    let functions = function("noop", guests::FIXTURE_NOOP, "")
        + &function("spin", guests::FIXTURE_SPIN, "timeout-ms = 3000");
    let (_o, proxy) = node_with("worker-threads = 1", &functions, "noop").await;
    let spinning: Vec<_> = (0..4)
        .map(|_| tokio::spawn(client().get(proxy.url("/spin")).send()))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..100 {
        let resp = client().get(proxy.url("/fast")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert!(
        spinning.iter().all(|h| !h.is_finished()),
        "the healthy requests outlasted the spinners' 3 s timeout"
    );
    for h in spinning {
        assert_eq!(h.await.unwrap().unwrap().status(), 503);
    }
}

/// Linear memory one warm environment of the no-op fixture holds, in bytes.
async fn noop_environment_bytes() -> f64 {
    let (_o, proxy) = node_with("", &function("noop", guests::FIXTURE_NOOP, ""), "noop").await;
    client().get(proxy.url("/")).send().await.unwrap();
    sample(&proxy.metrics().await, "edge_hook_memory_bytes").unwrap()
}

#[tokio::test]
async fn the_memory_budget_throttles_a_cold_start_with_a_clear_log_line() {
    let one = noop_environment_bytes().await;
    assert!(one > 0.0);
    // Less than one environment needs.
    let budget_mb = (one / f64::from(1 << 20)).floor().max(1.0) as u64;
    assert!(((budget_mb as f64) * f64::from(1 << 20)) < one);
    let (o, proxy) = node_with(
        &format!("hooks-memory-mb = {budget_mb}"),
        &function("noop", guests::FIXTURE_NOOP, ""),
        "noop",
    )
    .await;
    let resp = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(o.hits(), 0);
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("cold start throttled")
            && l.contains(&format!("hooks-memory-mb budget of {budget_mb} MB"))),
        "{log}"
    );
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "edge_hook_errors_total{function=\"noop\",kind=\"memory-budget\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_cold_start_short_of_memory_recycles_idle_environments_first() {
    let one = noop_environment_bytes().await;
    // Room for one environment, not two.
    let budget_mb = (one / f64::from(1 << 20)).ceil() as u64;
    assert!(2.0 * one > (budget_mb << 20) as f64);
    let functions =
        function("noop", guests::FIXTURE_NOOP, "") + &function("other", guests::FIXTURE_NOOP, "");
    let o = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[node]\nhooks-memory-mb = {budget_mb}\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n{functions}\n[[behaviors]]\npath = \"/other*\"\norigin = \"o\"\n[behaviors.hooks]\nviewer-request = {{ function = \"other\" }}\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-request = {{ function = \"noop\" }}\n",
        o.addr
    ));
    // `noop` keeps a warm environment; `other` needs its memory.
    assert_eq!(proxy.status("/").await, 200);
    assert_eq!(proxy.status("/other").await, 200);
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(&metrics, "edge_hook_environments_recycled_total"),
        Some(1.0),
        "{metrics}"
    );
    assert!(sample(&metrics, "edge_hook_memory_bytes").unwrap() <= (budget_mb << 20) as f64);
    assert!(proxy.stderr().contains("recycled 1 idle environments"));
}

#[tokio::test]
async fn a_memory_bomb_stops_at_the_node_budget_and_the_node_keeps_serving() {
    let functions = function("noop", guests::FIXTURE_NOOP, "")
        + &function("bomb", guests::FIXTURE_MEMORY_BOMB, "memory-mb = 512");
    let o = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[node]\nhooks-memory-mb = 64\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n{functions}\n[[behaviors]]\npath = \"/bomb*\"\norigin = \"o\"\n[behaviors.hooks]\nviewer-request = {{ function = \"bomb\" }}\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-request = {{ function = \"noop\" }}\n",
        o.addr
    ));
    for _ in 0..3 {
        assert_eq!(proxy.status("/bomb").await, 503);
        assert_eq!(proxy.status("/fine").await, 200);
    }
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("hook failed")
            && l.contains("bomb")
            && l.contains("hooks-memory-mb budget of 64 MB")),
        "{log}"
    );
    let metrics = proxy.metrics().await;
    assert!(sample(&metrics, "edge_hook_memory_bytes").unwrap() <= (64 << 20) as f64);
}

/// A proxy whose functions move to the slow lane after 50 ms of CPU, with `functions`, the
/// function `synchronous` on `/*` and `asynchronous` on `/async*`, both at viewer request.
async fn two_paths(functions: &str, synchronous: &str, asynchronous: &str) -> (Origin, Proxy) {
    let o = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[node]\nworker-threads = 1\nslow-lane-after-ms = 50\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n{functions}\n[[behaviors]]\npath = \"/async*\"\norigin = \"o\"\n[behaviors.hooks]\nviewer-request = {{ function = \"{asynchronous}\" }}\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-request = {{ function = \"{synchronous}\" }}\n",
        o.addr
    ));
    (o, proxy)
}

async fn status_with(proxy: &Proxy, path: &str, probe: &str) -> u16 {
    let resp = client()
        .get(proxy.url(path))
        .header("x-probe", probe)
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn a_hook_whose_cpu_budget_fits_the_slow_lane_threshold_runs_synchronously_and_may_not_wait()
{
    // The same module twice: within the threshold (synchronous), and without a budget.
    let functions = function("fits", guests::FIXTURE_PROBE, "cpu-budget-ms = 50")
        + &function("unbounded", guests::FIXTURE_PROBE, "");
    let (o, proxy) = two_paths(&functions, "fits", "unbounded").await;
    assert_eq!(status_with(&proxy, "/", "").await, 200);
    assert_eq!(o.last().headers["x-probe-invocations"], "1");
    // What it printed on that path is logged as on the other.
    assert_eq!(status_with(&proxy, "/", "").await, 200);
    assert_eq!(o.last().headers["x-probe-invocations"], "2");
    let log = proxy.stderr();
    assert!(log.contains("probe invocation 2 at ViewerRequest"), "{log}");

    // A wait (here a sleep) is refused on the synchronous path only.
    assert_eq!(status_with(&proxy, "/", "sleep").await, 503);
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("hook failed")
            && l.contains("fits")
            && l.contains("would wait, and a function on the synchronous path may not")),
        "{log}"
    );
    assert_eq!(status_with(&proxy, "/async", "sleep").await, 200);
    // The synchronous function keeps serving after the refused call (a fresh environment).
    assert_eq!(status_with(&proxy, "/", "").await, 200);
    assert_eq!(o.last().headers["x-probe-invocations"], "1");
}

/// Lines of `log` saying `function` moved to the asynchronous path.
fn moves(log: &str, function: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(function) && l.contains("moves to the asynchronous path"))
        .count()
}

#[tokio::test]
async fn a_hook_without_a_budget_runs_synchronously_until_a_call_waits_and_that_call_runs_again() {
    let (o, proxy) = two_paths(
        &function("unbounded", guests::FIXTURE_PROBE, ""),
        "unbounded",
        "unbounded",
    )
    .await;
    // Warm calls on the synchronous path: one environment, its module state kept.
    assert_eq!(status_with(&proxy, "/a", "").await, 200);
    assert_eq!(status_with(&proxy, "/a", "").await, 200);
    assert_eq!(o.last().headers["x-probe-invocations"], "2");
    assert_eq!(moves(&proxy.stderr(), "unbounded"), 0);

    // A call that edits the event, then waits: stopped, and run again asynchronously on a
    // fresh environment from the event as it came, so its edits are made once.
    assert_eq!(status_with(&proxy, "/a", "edit-then-sleep").await, 200);
    let seen = o.last();
    assert_eq!(seen.uri, "/a-probed");
    assert_eq!(seen.headers["x-probe-attempt"], "1");
    assert_eq!(seen.headers["x-probe-invocations"], "1");
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("unbounded")
            && l.contains("moves to the asynchronous path: a call")
            && l.contains("would wait")),
        "{log}"
    );
    // What the abandoned attempt printed (its third invocation) is not logged; the call that
    // ran again printed as the first of its environment.
    assert!(!log.contains("probe invocation 3 at"), "{log}");
    assert!(!log.contains("hook failed"), "{log}");

    // It stays there: waits are fine, the environment is kept, no second move.
    assert_eq!(status_with(&proxy, "/a", "sleep").await, 200);
    assert_eq!(o.last().headers["x-probe-invocations"], "2");
    assert_eq!(moves(&proxy.stderr(), "unbounded"), 1);
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "edge_function_ran_again_total{function=\"unbounded\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_response_hook_run_again_sees_the_response_as_it_came() {
    let o = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n{}\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-response = {{ function = \"probe\" }}\n",
        o.addr,
        function("probe", guests::FIXTURE_PROBE, ""),
    ));
    let request = "GET /r HTTP/1.1\r\nHost: edge.test\r\nx-probe: edit-then-sleep\r\nConnection: close\r\n\r\n";
    let reply = raw_exchange_off_runtime(proxy.addr, request, Duration::from_secs(5)).await;
    let head = reply.split("\r\n\r\n").next().unwrap();
    // The description read on the second run is the origin's, not the first run's edit.
    assert!(head.starts_with("HTTP/1.1 200 OK probed\r\n"), "{head}");
    let attempts = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("x-probe-attempt:"))
        .count();
    assert_eq!(attempts, 1, "{head}");
    assert_eq!(moves(&proxy.stderr(), "probe"), 1);
}

#[tokio::test]
async fn a_synchronous_hook_that_spins_stops_at_its_budget_and_never_moves_to_the_slow_lane() {
    let functions = function("noop", guests::FIXTURE_NOOP, "")
        + &function(
            "spin",
            guests::FIXTURE_SPIN,
            "timeout-ms = 20000\ncpu-budget-ms = 50",
        );
    let (_o, proxy) = two_paths(&functions, "noop", "spin").await;
    let started = Instant::now();
    let spinning: Vec<_> = (0..4)
        .map(|_| tokio::spawn(client().get(proxy.url("/async-spin")).send()))
        .collect();
    for _ in 0..20 {
        assert_eq!(proxy.status("/fast").await, 200);
    }
    for h in spinning {
        assert_eq!(h.await.unwrap().unwrap().status(), 503);
    }
    // Stopped by the budget, not the 20 s timeout.
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = proxy.stderr();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("hook failed")
                && l.contains("spin")
                && l.contains("stopped after 50 ms of CPU (cpu-budget-ms)"))
            .count(),
        4,
        "{log}"
    );
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(&metrics, "edge_hook_slow_lane_total{function=\"spin\"}").unwrap_or(0.0),
        0.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_synchronous_hook_past_its_timeout_gets_the_timeout_error() {
    let functions = function("noop", guests::FIXTURE_NOOP, "")
        + &function(
            "spin",
            guests::FIXTURE_SPIN,
            "timeout-ms = 5\ncpu-budget-ms = 50",
        );
    let (_o, proxy) = two_paths(&functions, "noop", "spin").await;
    assert_eq!(proxy.status("/async-spin").await, 503);
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("hook failed")
            && l.contains("spin")
            && l.contains("timed out after 5 ms")),
        "{log}"
    );
    let metrics = proxy.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "edge_hook_errors_total{function=\"spin\",kind=\"timeout\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_hook_that_imports_sockets_runs_asynchronously_whatever_its_budget() {
    let functions = function(
        "bots",
        guests::PYTHON_BOT_BLOCK,
        "cpu-budget-ms = 50\n[functions.bots.env]\nBLOCKED_AGENTS = \"badbot\"",
    ) + &function("noop", guests::FIXTURE_NOOP, "");
    let (_o, proxy) = two_paths(&functions, "bots", "noop").await;
    assert_eq!(proxy.status("/").await, 200);
    let log = proxy.stderr();
    assert!(
        log.lines().any(|l| l.contains("bots")
            && l.contains("runs on the asynchronous path although its CPU budget fits")),
        "{log}"
    );
}
