//! Real-time logs (`[realtime-logs]`): sampled requests reach a function as Kinesis batches, in
//! order; a failing batch is retried, split and discarded to the on-failure destination. On
//! both queue stores.

use std::time::{Duration, Instant};

use serde_json::Value;

use edge_test_artifacts as guests;

use crate::stores::Store;
use crate::support::{client, Proxy};

const TOKEN: &str = "realtime-admin-token-01";

/// A proxy serving a files origin, logging to the `counter` function (`log-counter`) with
/// `settings` in `[realtime-logs]` and `env` in the function's environment.
fn proxy(store: &Store, settings: &str, env: &str) -> Proxy {
    Proxy::start_with(
        &format!(
            "token = \"{TOKEN}\"\n\n[queue]\n{}\n\n[functions.counter]\nmodule = \"{}\"\n[functions.counter.env]\n{env}\n\n\
             [realtime-logs]\nfunction = \"counter\"\n{settings}\n\n\
             [origins.site]\ntype = \"files\"\nroot = \"{{dir}}/site\"\n\n[default-behavior]\norigin = \"site\"\n",
            store.settings(),
            guests::LOG_COUNTER
        ),
        |dir| {
            std::fs::create_dir_all(dir.join("site")).unwrap();
            std::fs::write(dir.join("site/a"), "a").unwrap();
        },
    )
}

/// The lines the function printed that start with `prefix` (after `log-counter: `).
fn counter_lines(proxy: &Proxy) -> Vec<String> {
    proxy
        .stderr()
        .lines()
        .filter_map(|l| {
            l.split_once("log-counter: ")
                .map(|(_, rest)| rest.to_string())
        })
        .map(|l| {
            l.split(" function=")
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .collect()
}

on_both_stores!(sampled_requests_reach_the_function_in_ordered_batches);
async fn sampled_requests_reach_the_function_in_ordered_batches(store: Store) {
    let proxy = proxy(
        &store,
        "batch-size = 5\nbatch-window-ms = 200\nfields = [\"timestamp\", \"sc-status\", \"cs-uri-stem\", \"x-edge-request-id\"]",
        "FIELDS = \"timestamp,sc-status,cs-uri-stem,x-edge-request-id\"",
    );
    for _ in 0..12 {
        assert_eq!(proxy.status("/a").await, 200);
    }
    assert_eq!(proxy.status("/missing").await, 404);
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = |lines: &[String], what: &str| -> u32 {
        lines
            .iter()
            .filter(|l| l.ends_with(what))
            .filter_map(|l| l.split(' ').next()?.parse::<u32>().ok())
            .sum()
    };
    let lines = loop {
        let lines = counter_lines(&proxy);
        if counted(&lines, "x 200 /a") == 12 && counted(&lines, "x 404 /missing") == 1 {
            break lines;
        }
        assert!(Instant::now() < deadline, "{lines:#?}\n{}", proxy.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Batches of at most five, whose sequence numbers only ever grow.
    let mut last = String::new();
    for l in lines.iter().filter(|l| l.contains(" records, sequence ")) {
        let size: usize = l.split(' ').next().unwrap().parse().unwrap();
        assert!((1..=5).contains(&size), "{l}");
        let (first, end) = l
            .split_once(" sequence ")
            .unwrap()
            .1
            .split_once(" to ")
            .unwrap();
        assert!(
            (first.len(), first) > (last.len(), last.as_str()),
            "{first} after {last}"
        );
        assert!((end.len(), end) >= (first.len(), first));
        last = end.to_string();
    }
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("edge_realtime_log_records_total{result=\"sampled\"} 13"),
        "{metrics}"
    );
}

on_both_stores!(a_failing_batch_is_retried_split_and_discarded_to_the_failure_destination);
async fn a_failing_batch_is_retried_split_and_discarded_to_the_failure_destination(store: Store) {
    // Without sc-status in FIELDS the function fails every batch.
    let proxy = proxy(
        &store,
        "batch-size = 4\nbatch-window-ms = 5000\nmaximum-retry-attempts = 1\nbisect-batch-on-function-error = true\non-failure = \"queue:failed\"",
        "FIELDS = \"timestamp\"",
    );
    for _ in 0..4 {
        assert_eq!(proxy.status("/a").await, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let records = loop {
        let resp = client()
            .get(proxy.admin_url("/queues/failed"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        let messages = v["messages"].as_array().cloned().unwrap_or_default();
        if messages.len() == 4 {
            break messages;
        }
        assert!(Instant::now() < deadline, "{v}\n{}", proxy.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Split down to single records, each tried twice, then discarded one by one.
    for m in &records {
        let r = &m["body"];
        assert_eq!(r["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(r["responseContext"]["functionError"], "Handled");
        assert_eq!(r["KinesisBatchInfo"]["batchSize"], 1);
        assert_eq!(
            r["KinesisBatchInfo"]["startSequenceNumber"],
            r["KinesisBatchInfo"]["endSequenceNumber"]
        );
    }
    let metrics = proxy.metrics().await;
    for (result, n) in [("split", 3), ("discarded", 4)] {
        assert!(
            metrics.contains(&format!(
                "edge_realtime_log_batches_total{{result=\"{result}\"}} {n}"
            )),
            "{result}: {metrics}"
        );
    }
}
