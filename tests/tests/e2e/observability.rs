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
