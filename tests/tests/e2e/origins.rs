//! `http` origins: load balancing, health checks and failover, and the 502/504 mapping.

use std::time::Duration;

use crate::support::{client, free_port, Origin, Proxy};

#[tokio::test]
async fn round_robin_spreads_requests_over_both_servers() {
    let a = Origin::start("a").await;
    let b = Origin::start("b").await;
    let proxy = Proxy::start(&format!(
        "[origins.pool]\ntype = \"http\"\nservers = [\"{}\", \"{}\"]\n\n[default-behavior]\norigin = \"pool\"\n",
        a.addr, b.addr
    ));
    for _ in 0..10 {
        assert_eq!(
            client().get(proxy.url("/")).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(a.hits() + b.hits(), 10);
    assert!(
        a.hits() >= 4 && b.hits() >= 4,
        "a={} b={}",
        a.hits(),
        b.hits()
    );
}

#[tokio::test]
async fn consistent_hashing_keeps_a_path_on_one_server() {
    let a = Origin::start("a").await;
    let b = Origin::start("b").await;
    let proxy = Proxy::start(&format!(
        "[origins.pool]\ntype = \"http\"\nservers = [\"{}\", \"{}\"]\nbalance = \"consistent-hash\"\n\n[default-behavior]\norigin = \"pool\"\n",
        a.addr, b.addr
    ));
    let first = client()
        .get(proxy.url("/object/42"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for _ in 0..5 {
        let again = client()
            .get(proxy.url("/object/42"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(again, first);
    }
    assert!(
        a.hits() == 6 || b.hits() == 6,
        "a={} b={}",
        a.hits(),
        b.hits()
    );
}

#[tokio::test]
async fn health_check_takes_a_down_server_out_and_requests_keep_succeeding() {
    let a = Origin::start("a").await;
    let b = Origin::start("b").await;
    let proxy = Proxy::start(&format!(
        "[origins.pool]\ntype = \"http\"\nservers = [\"{}\", \"{}\"]\n\n[origins.pool.health-check]\nkind = \"http\"\npath = \"/health\"\ninterval-ms = 100\n\n[default-behavior]\norigin = \"pool\"\n",
        a.addr, b.addr
    ));
    a.stop();
    // Let the health check notice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = b.hits();
    for _ in 0..6 {
        let resp = client().get(proxy.url("/x")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "origin b /x");
    }
    // Every request went to b (health checks add their own hits on top).
    assert!(b.hits() >= before + 6);
}

#[tokio::test]
async fn failed_connect_fails_over_to_the_next_server_without_health_checks() {
    let b = Origin::start("b").await;
    let dead = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&format!(
        "[origins.pool]\ntype = \"http\"\nservers = [\"{dead}\", \"{}\"]\n\n[default-behavior]\norigin = \"pool\"\n",
        b.addr
    ));
    for _ in 0..4 {
        let resp = client().get(proxy.url("/y")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(b.hits(), 4);
}

#[tokio::test]
async fn refused_origin_is_502_with_a_body_and_a_log_line() {
    let dead = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&format!(
        "[origins.gone]\ntype = \"http\"\nservers = [\"{dead}\"]\n\n[default-behavior]\norigin = \"gone\"\n"
    ));
    let resp = client().get(proxy.url("/z")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(resp.text().await.unwrap().contains("origin \"gone\""));
    let line = proxy.access_log_line(&id);
    assert_eq!(line["status"], 502);
    assert!(!line["error"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn origin_slower_than_read_timeout_is_504() {
    let slow = Origin::start("slow").await;
    let proxy = Proxy::start(&format!(
        "[origins.slow]\ntype = \"http\"\nservers = [\"{}\"]\nread-timeout-ms = 300\n\n[default-behavior]\norigin = \"slow\"\n",
        slow.addr
    ));
    let resp = client().get(proxy.url("/slow/3")).send().await.unwrap();
    assert_eq!(resp.status(), 504);
    assert!(resp.text().await.unwrap().contains("timed out"));
    // A fast request on the same origin still works.
    assert_eq!(
        client()
            .get(proxy.url("/fast"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
