//! The admin listener (`/healthz`, `/metrics`) and the JSON access log.

use crate::support::{client, free_port, Origin, Proxy};

#[tokio::test]
async fn healthz_and_metrics_report_requests_latency_and_upstream_errors() {
    let origin = Origin::start("o").await;
    let dead = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[origins.gone]\ntype = \"http\"\nservers = [\"{dead}\"]\n\n[[behaviors]]\npath = \"/gone/*\"\norigin = \"gone\"\n\n[default-behavior]\norigin = \"o\"\n",
        origin.addr
    ));
    let admin = format!("http://{}", proxy.admin);
    let health = client()
        .get(format!("{admin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    assert_eq!(
        client().get(proxy.url("/a")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        client()
            .get(proxy.url("/gone/x"))
            .send()
            .await
            .unwrap()
            .status(),
        502
    );
    // Counters are updated in the logging phase, just after the response went out: poll.
    let mut metrics = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        metrics = client()
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("status=\"502\"") && metrics.contains("status=\"200\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        metrics.contains("edge_requests_total{behavior=\"*\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("edge_requests_total{behavior=\"/gone/*\",status=\"502\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("edge_origin_latency_seconds_count{origin=\"o\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("edge_upstream_errors_total{kind=\"connect\",origin=\"gone\"}"),
        "{metrics}"
    );
    // The admin listener is not the viewer listener.
    assert_eq!(
        client()
            .get(proxy.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "origin o /metrics"
    );
}

#[tokio::test]
async fn each_request_writes_one_json_access_log_line() {
    let origin = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[default-behavior]\norigin = \"o\"\n",
        origin.addr
    ));
    let resp = client()
        .get(proxy.url("/logged?x=1"))
        .header("host", "h.example")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = resp.text().await.unwrap();
    let line = proxy.access_log_line(&id);
    assert_eq!(line["request_id"], id.as_str());
    assert_eq!(line["method"], "GET");
    assert_eq!(line["host"], "h.example");
    assert_eq!(line["path"], "/logged?x=1");
    assert_eq!(line["origin_path"], "/logged?x=1");
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes"], body.len());
    assert_eq!(line["behavior"], "*");
    assert_eq!(line["origin"], "o");
    assert!(line["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(line["duration_ms"].as_f64().unwrap() >= line["origin_ms"].as_f64().unwrap());
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        proxy.stdout().lines().filter(|l| l.contains(&id)).count(),
        1
    );
}

#[tokio::test]
async fn cost_prices_a_fixed_request_mix_as_lambda_and_lambda_at_edge_bill_it() {
    let origin = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[origins.api]\ntype = \"function\"\nfunction = \"hello\"\n\n[functions.noop]\nmodule = \"{}\"\nmemory-mb = 128\n\n[functions.hello]\nmodule = \"{}\"\nmemory-mb = 512\n\n[[behaviors]]\npath = \"/api/*\"\norigin = \"api\"\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-request = {{ function = \"noop\" }}\n",
        origin.addr,
        edge_test_artifacts::FIXTURE_NOOP,
        edge_test_artifacts::ALB_HELLO,
    ));
    // The mix: five requests through the 128 MB hook, three to the 512 MB target function.
    for _ in 0..5 {
        assert_eq!(proxy.status("/page").await, 200);
    }
    for _ in 0..3 {
        assert_eq!(proxy.status("/api/hello").await, 200);
    }
    let cost: serde_json::Value =
        serde_json::from_str(&proxy.admin_text("/cost?edge-per-million-requests=1").await).unwrap();
    let functions = cost["functions"].as_array().unwrap();
    let row = |name: &str| {
        functions
            .iter()
            .find(|f| f["function"] == name)
            .unwrap_or_else(|| panic!("{name} in {cost}"))
    };
    for (name, requests, memory_gb) in [("noop", 5, 0.125), ("hello", 3, 0.5)] {
        let f = row(name);
        assert_eq!(f["requests"], requests, "{name}");
        // Whole billed milliseconds, at least one per request, times the memory.
        let gb_s = f["gbSeconds"].as_f64().unwrap();
        let billed_ms = gb_s / memory_gb * 1000.0;
        assert!(
            (billed_ms - billed_ms.round()).abs() < 1e-6,
            "{name}: {billed_ms} ms"
        );
        assert!(
            billed_ms.round() as u64 >= requests,
            "{name}: {billed_ms} ms"
        );
        let lambda = requests as f64 / 1e6 * 0.20 + gb_s * 0.000_016_666_7;
        let edge = requests as f64 / 1e6 * 1.0 + gb_s * 0.000_050_01;
        assert!(
            (f["lambda"].as_f64().unwrap() - lambda).abs() < 1e-12,
            "{name}"
        );
        assert!(
            (f["lambdaAtEdge"].as_f64().unwrap() - edge).abs() < 1e-12,
            "{name}"
        );
    }
    assert_eq!(cost["total"]["requests"], 8);
    let bad = client()
        .get(proxy.admin_url("/cost?lambda-per-gb-second=free"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("lambda-per-gb-second"));
    let metrics = proxy.metrics().await;
    assert!(metrics.contains("edge_function_billed_requests_total{function=\"noop\"} 5"));
}

#[tokio::test]
async fn a_stdout_nobody_reads_never_holds_up_requests() {
    let origin = Origin::start("o").await;
    let proxy = Proxy::start_with_unread_stdout(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[default-behavior]\norigin = \"o\"\n",
        origin.addr
    ));
    // A pipe holds 64 KiB: these requests' access-log lines are several times that. Written on
    // the request's path, the lines past it would leave each request waiting on the pipe.
    let path = format!("/{}", "p".repeat(1000));
    for n in 0..600 {
        let resp = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            client().get(proxy.url(&format!("{path}?n={n}"))).send(),
        )
        .await
        .unwrap_or_else(|_| panic!("request {n} waited on the access log"))
        .unwrap();
        assert_eq!(resp.status(), 200);
    }
}
