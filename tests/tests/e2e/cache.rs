//! The edge cache in the live proxy: hooks placed as CloudFront places them, TTLs, what is
//! never stored, Vary, cache keys, the lock, purge, the byte budget, and 304/206/stale from
//! stored objects.

use std::time::Duration;

use edge_test_artifacts as guests;

use crate::support::{client, Origin, Proxy};

/// A proxy whose default behavior caches origin `o` with `policy` (TOML lines for
/// `[default-behavior.cache]`), with the probe function on every trigger, and `extra` config.
async fn cached_proxy(policy: &str, extra: &str) -> (Origin, Proxy) {
    let o = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[functions.probe]\nmodule = \"{}\"\n\n{extra}\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.cache]\n{policy}\n[default-behavior.hooks]\nviewer-request = {{ function = \"probe\" }}\norigin-request = {{ function = \"probe\" }}\norigin-response = {{ function = \"probe\" }}\nviewer-response = {{ function = \"probe\" }}\n",
        o.addr,
        guests::FIXTURE_PROBE
    ));
    (o, proxy)
}

/// The value of the metric line that starts with `name` and has every label in `labels`.
async fn metric(proxy: &Proxy, name: &str, labels: &[&str]) -> f64 {
    let text = client()
        .get(proxy.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|lab| l.contains(lab)))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls `metric` until `ok` holds (request counters move in the logging phase, just after
/// the response went out), returning the last value seen.
async fn metric_until(proxy: &Proxy, name: &str, labels: &[&str], ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v = metric(proxy, name, labels).await;
        if ok(v) || std::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn invocations(proxy: &Proxy, event_type: &str) -> f64 {
    metric(
        proxy,
        "edge_hook_invocations_total",
        &[&format!("event_type=\"{event_type}\"")],
    )
    .await
}

async fn get(proxy: &Proxy, path: &str) -> reqwest::Response {
    client().get(proxy.url(path)).send().await.unwrap()
}

fn x_cache(r: &reqwest::Response) -> &str {
    r.headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn identical_requests_fetch_once_and_run_origin_hooks_once() {
    let (o, proxy) = cached_proxy("", "").await;
    let first = get(&proxy, "/doc").await;
    assert_eq!(first.status(), 200);
    assert_eq!(x_cache(&first), "Miss from edge-proxy");
    assert_eq!(first.text().await.unwrap(), "origin o /doc");
    for _ in 0..4 {
        let hit = get(&proxy, "/doc").await;
        assert_eq!(x_cache(&hit), "Hit from edge-proxy");
        assert!(hit.headers().contains_key("age"), "a hit carries Age");
        // origin-response ran before the store: its header is part of the cached object
        let events: Vec<_> = hit
            .headers()
            .get_all("x-probe-event")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(events.join(","), "OriginResponse,ViewerResponse");
        assert_eq!(hit.text().await.unwrap(), "origin o /doc");
    }
    assert_eq!(o.hits(), 1);
    assert_eq!(invocations(&proxy, "viewer-request").await, 5.0);
    assert_eq!(invocations(&proxy, "origin-request").await, 1.0);
    assert_eq!(invocations(&proxy, "origin-response").await, 1.0);
    assert_eq!(invocations(&proxy, "viewer-response").await, 5.0);
    let hits = ["result=\"hit\""];
    assert_eq!(
        metric_until(&proxy, "edge_cache_requests_total", &hits, |v| v == 4.0).await,
        4.0
    );
    assert_eq!(
        metric(&proxy, "edge_cache_requests_total", &["result=\"miss\""]).await,
        1.0
    );
}

#[tokio::test]
async fn expired_objects_are_fetched_again() {
    let (o, proxy) = cached_proxy("", "").await;
    get(&proxy, "/ttl?cc=max-age%3D1").await;
    assert_eq!(
        x_cache(&get(&proxy, "/ttl?cc=max-age%3D1").await),
        "Hit from edge-proxy"
    );
    assert_eq!(o.hits(), 1);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let after = get(&proxy, "/ttl?cc=max-age%3D1").await;
    assert_ne!(x_cache(&after), "Hit from edge-proxy");
    assert_eq!(o.hits(), 2);
}

#[tokio::test]
async fn no_store_private_and_authorized_responses_are_never_stored() {
    let (o, proxy) = cached_proxy("", "").await;
    for path in ["/ns?cc=no-store", "/pv?cc=private%2C%20max-age%3D60"] {
        let before = o.hits();
        for _ in 0..3 {
            let r = get(&proxy, path).await;
            assert_eq!(x_cache(&r), "Miss from edge-proxy", "{path}");
        }
        assert_eq!(o.hits() - before, 3, "{path} was stored");
    }
    let before = o.hits();
    for _ in 0..2 {
        client()
            .get(proxy.url("/auth?cc=max-age%3D60"))
            .header("authorization", "Bearer abc")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        o.hits() - before,
        2,
        "a response to an authorized request was stored"
    );
}

#[tokio::test]
async fn vary_keeps_one_variant_per_header_value() {
    let (o, proxy) = cached_proxy("", "").await;
    let fetch = |lang: &'static str| {
        let url = proxy.url("/v?vary=accept-language");
        async move {
            client()
                .get(url)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(x_cache(&fetch("en").await), "Miss from edge-proxy");
    assert_eq!(x_cache(&fetch("en").await), "Hit from edge-proxy");
    assert_eq!(x_cache(&fetch("fr").await), "Miss from edge-proxy");
    assert_eq!(x_cache(&fetch("fr").await), "Hit from edge-proxy");
    assert_eq!(x_cache(&fetch("en").await), "Hit from edge-proxy");
    assert_eq!(o.hits(), 2);
}

#[tokio::test]
async fn query_allow_list_splits_named_parameters_and_merges_the_rest() {
    let (o, proxy) = cached_proxy("query-strings = [\"w\"]", "").await;
    get(&proxy, "/img?w=10&utm=a").await;
    let merged = get(&proxy, "/img?utm=b&w=10").await;
    assert_eq!(x_cache(&merged), "Hit from edge-proxy");
    assert_eq!(o.hits(), 1);
    let split = get(&proxy, "/img?w=20").await;
    assert_eq!(x_cache(&split), "Miss from edge-proxy");
    assert_eq!(o.hits(), 2);

    // Without query strings in the key, every query maps to the path's one object.
    let (o, proxy) = cached_proxy("", "").await;
    get(&proxy, "/img?w=10").await;
    assert_eq!(
        x_cache(&get(&proxy, "/img?w=20").await),
        "Hit from edge-proxy"
    );
    assert_eq!(o.hits(), 1);
}

#[tokio::test]
async fn a_burst_on_a_cold_key_makes_one_origin_request() {
    let (o, proxy) = cached_proxy("", "").await;
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let url = proxy.url("/slow/1/burst");
            tokio::spawn(async move { client().get(url).send().await.unwrap().status() })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap(), 200);
    }
    assert_eq!(o.hits(), 1);
    assert!(metric_until(&proxy, "edge_cache_lock_waits_total", &[], |v| v >= 1.0).await >= 1.0);
    assert_eq!(invocations(&proxy, "origin-request").await, 1.0);
}

#[tokio::test]
async fn purge_needs_the_token_and_drops_paths_and_prefixes() {
    let (o, proxy) = cached_proxy("", "[cache]\npurge-token = \"0123456789abcdef-token\"").await;
    for path in ["/p/a", "/p/b", "/keep"] {
        get(&proxy, path).await;
    }
    assert_eq!(o.hits(), 3);
    let purge = |body: &'static str, token: Option<&'static str>| {
        let url = proxy.admin_url("/cache/purge");
        async move {
            let mut req = client().post(url).body(body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send().await.unwrap()
        }
    };
    let refused = purge("{\"paths\":[\"/*\"]}", None).await;
    assert_eq!(refused.status(), 401);
    let refused = purge("{\"paths\":[\"/*\"]}", Some("wrong-token-0123456")).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(x_cache(&get(&proxy, "/p/a").await), "Hit from edge-proxy");

    let done = purge(
        "{\"host\":\"127.0.0.1\",\"paths\":[\"/p/a\"]}",
        Some("0123456789abcdef-token"),
    )
    .await;
    assert_eq!(done.status(), 200);
    assert_eq!(done.text().await.unwrap(), "{\"purged\":1}");
    assert_eq!(x_cache(&get(&proxy, "/p/a").await), "Miss from edge-proxy");
    assert_eq!(x_cache(&get(&proxy, "/p/b").await), "Hit from edge-proxy");

    let done = purge("{\"paths\":[\"/p/*\"]}", Some("0123456789abcdef-token")).await;
    assert_eq!(done.text().await.unwrap(), "{\"purged\":2}");
    assert_eq!(x_cache(&get(&proxy, "/p/b").await), "Miss from edge-proxy");
    assert_eq!(x_cache(&get(&proxy, "/keep").await), "Hit from edge-proxy");
    // The access log is written in batches: once a later request's line is out, so is every
    // line before it.
    get(&proxy, "/after-the-purges").await;
    proxy.access_log_line("/after-the-purges");
    assert!(
        !proxy.stderr().contains("0123456789abcdef-token")
            && !proxy.stdout().contains("0123456789abcdef-token"),
        "the token was logged"
    );
    let bad = purge("{\"paths\":[\"p\"]}", Some("0123456789abcdef-token")).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn the_byte_budget_holds_under_a_stream_of_distinct_objects() {
    let (o, proxy) = cached_proxy("", "[cache]\nmax-bytes = 1048576").await;
    for i in 0..30 {
        let r = get(&proxy, &format!("/big/{i}?size=102400")).await;
        assert_eq!(r.bytes().await.unwrap().len(), 102_400);
        let stored = metric(&proxy, "edge_cache_bytes", &[]).await;
        assert!(
            stored <= 1_048_576.0,
            "{stored} bytes stored after object {i}"
        );
    }
    assert_eq!(o.hits(), 30);
    let evictions = metric(&proxy, "edge_cache_evictions_total", &[]).await;
    assert!(evictions >= 20.0, "{evictions} evictions");
    // the most recent objects are still there
    assert_eq!(
        x_cache(&get(&proxy, "/big/29?size=102400").await),
        "Hit from edge-proxy"
    );
}

#[tokio::test]
async fn stale_if_error_serves_the_stored_object_when_the_origin_is_down() {
    let (o, proxy) = cached_proxy("", "").await;
    let path = "/sie?cc=max-age%3D1%2C%20stale-if-error%3D60";
    assert_eq!(get(&proxy, path).await.status(), 200);
    o.stop();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let stale = get(&proxy, path).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.text().await.unwrap(), "origin o /sie");
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_behind() {
    let (o, proxy) = cached_proxy("", "").await;
    let path = "/swr?cc=max-age%3D1%2C%20stale-while-revalidate%3D60";
    get(&proxy, path).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let stale = get(&proxy, path).await;
    assert_eq!(x_cache(&stale), "Hit from edge-proxy");
    assert_eq!(stale.headers()["x-origin-hit"], "1");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while o.hits() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A files origin on a cached behavior: S3-like objects are stored, then 304 and 206 are
/// answered from the stored object.
#[tokio::test]
async fn files_objects_are_cached_and_answer_conditional_and_range_requests() {
    let proxy = Proxy::start_with(
        "[origins.site]\ntype = \"files\"\nroot = \"{dir}/site\"\n\n[default-behavior]\norigin = \"site\"\n[default-behavior.cache]\ndefault-ttl = 60\n",
        |dir| {
            std::fs::create_dir(dir.join("site")).unwrap();
            std::fs::write(dir.join("site/page.html"), "<p>hello cache</p>").unwrap();
        },
    );
    let first = get(&proxy, "/page.html").await;
    assert_eq!(x_cache(&first), "Miss from edge-proxy");
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(first.text().await.unwrap(), "<p>hello cache</p>");
    // the file changes, the cache keeps serving what it stored
    std::fs::write(proxy.dir.path().join("site/page.html"), "<p>changed!!</p>").unwrap();
    let hit = get(&proxy, "/page.html").await;
    assert_eq!(x_cache(&hit), "Hit from edge-proxy");
    assert_eq!(hit.text().await.unwrap(), "<p>hello cache</p>");

    let not_modified = client()
        .get(proxy.url("/page.html"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(x_cache(&not_modified), "Hit from edge-proxy");

    let range = client()
        .get(proxy.url("/page.html"))
        .header("range", "bytes=3-7")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(x_cache(&range), "Hit from edge-proxy");
    assert_eq!(range.text().await.unwrap(), "hello");
}

/// CloudFront caches responses origin-request generates; viewer-request generated ones are not.
#[tokio::test]
async fn origin_request_generated_responses_are_cached() {
    let o = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[functions.redirects]\nmodule = \"{}\"\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.cache]\n[default-behavior.hooks]\norigin-request = {{ function = \"redirects\" }}\n",
        o.addr,
        guests::REDIRECTS
    ));
    let first = get(&proxy, "/index.html").await;
    assert_eq!(first.status(), 301);
    assert_eq!(first.headers()["location"], "/");
    assert_eq!(x_cache(&first), "Miss from edge-proxy");
    let second = get(&proxy, "/index.html").await;
    assert_eq!(second.status(), 301);
    assert_eq!(x_cache(&second), "Hit from edge-proxy");
    assert_eq!(invocations(&proxy, "origin-request").await, 1.0);
    assert_eq!(o.hits(), 0);
}

/// The local-origin socket directory is made at start, even for a configuration that does not
/// cache yet (a reload may add a cache policy), and directories left by exited processes are
/// cleared (Pingora exits without destructors).
#[tokio::test]
async fn socket_directory_is_made_at_start_and_stale_ones_are_cleared() {
    // Above the kernel's largest possible pid, so no process can own it.
    let stale = std::env::temp_dir().join("edge-proxy-4194305");
    std::fs::create_dir_all(&stale).unwrap();
    let o = Origin::start("o").await;
    let uncached = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n[default-behavior]\norigin = \"o\"\n",
        o.addr
    ));
    let own = std::env::temp_dir().join(format!("edge-proxy-{}", uncached.pid()));
    assert!(own.join("local-origin.sock").exists());
    assert!(!stale.exists(), "a stale socket directory was left");
}
