//! Behaviors match host and path patterns in order, with the default behavior last.

use crate::support::{client, Origin, Proxy};

async fn setup() -> (Origin, Origin, Proxy) {
    let a = Origin::start("a").await;
    let b = Origin::start("b").await;
    let proxy = Proxy::start(&format!(
        r#"
[origins.a]
type = "http"
servers = ["{}"]

[origins.b]
type = "http"
servers = ["{}"]

[[behaviors]]
host = "*.example.com"
path = "/api/*"
origin = "b"

[[behaviors]]
path = "/api/*"
origin = "a"

[[behaviors]]
path = "/api/special"
origin = "b"

[[behaviors]]
path = "/images/*.png"
origin = "a"

[default-behavior]
origin = "b"
"#,
        a.addr, b.addr
    ));
    (a, b, proxy)
}

async fn body(proxy: &Proxy, host: &str, path: &str) -> String {
    let resp = client()
        .get(proxy.url(path))
        .header("host", host)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn first_matching_behavior_wins_in_file_order() {
    let (_a, _b, proxy) = setup().await;
    // `/api/*` comes before `/api/special`, so the later behavior never sees it.
    assert_eq!(
        body(&proxy, "localhost", "/api/special").await,
        "origin a /api/special"
    );
    assert_eq!(
        body(&proxy, "localhost", "/images/x/y.png").await,
        "origin a /images/x/y.png"
    );
}

#[tokio::test]
async fn host_pattern_selects_a_behavior() {
    let (_a, _b, proxy) = setup().await;
    assert_eq!(
        body(&proxy, "www.example.com", "/api/v1").await,
        "origin b /api/v1"
    );
    assert_eq!(
        body(&proxy, "www.example.org", "/api/v1").await,
        "origin a /api/v1"
    );
}

#[tokio::test]
async fn unmatched_requests_use_the_default_behavior() {
    let (_a, _b, proxy) = setup().await;
    assert_eq!(
        body(&proxy, "localhost", "/images/x.jpg").await,
        "origin b /images/x.jpg"
    );
    assert_eq!(body(&proxy, "localhost", "/").await, "origin b /");
}
