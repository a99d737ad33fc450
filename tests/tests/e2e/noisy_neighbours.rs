//! A hook that burns CPU or memory must not take the rest of the node with it: the CPU budget,
//! the slow lane and the node-wide memory budget.

use std::time::{Duration, Instant};

use edge_test_artifacts as guests;

use crate::support::{client, Origin, Proxy};

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
    assert!(spin_cpu > 0.05, "spin used {spin_cpu} s of CPU");
    assert!(noop_cpu < spin_cpu, "noop {noop_cpu} s, spin {spin_cpu} s");
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
