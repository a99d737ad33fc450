//! Hooks at the four triggers, in the live proxy: powers, skips, validation (502), execution
//! failures (503), include-body, env vars, environments, throttling and isolation.

use std::time::Duration;

use edge_test_artifacts as guests;

use crate::support::{client, raw_exchange, Origin, Proxy};

/// A proxy with origins `o` (http) and `alt` (http), function definitions `functions`, and one
/// default behavior to `o` carrying `hooks` (TOML lines for `[default-behavior.hooks]`).
async fn proxy_with(functions: &str, hooks: &str) -> (Origin, Origin, Proxy) {
    let o = Origin::start("o").await;
    let alt = Origin::start("alt").await;
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[origins.alt]\ntype = \"http\"\nservers = [\"{}\"]\n\n{functions}\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\n{hooks}\n",
        o.addr, alt.addr
    ));
    (o, alt, proxy)
}

fn function(name: &str, module: &str, extra: &str) -> String {
    format!("[functions.{name}]\nmodule = \"{module}\"\n{extra}\n")
}

/// `GET path` from `proxy`, asking the invalid-header fixture to break rule `mode`.
async fn breaking(proxy: &Proxy, path: &str, mode: &str) -> reqwest::Response {
    client()
        .get(proxy.url(path))
        .header("x-break", mode)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn viewer_request_generated_response_skips_origin_and_viewer_response() {
    let functions = function(
        "auth",
        guests::BASIC_AUTH,
        "[functions.auth.env]\nBASIC_AUTH_USER = \"alice\"\nBASIC_AUTH_PASSWORD = \"s3cret\"",
    ) + &function("probe", guests::FIXTURE_PROBE, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "viewer-request = { function = \"auth\" }\nviewer-response = { function = \"probe\" }",
    )
    .await;
    let denied = client().get(proxy.url("/private")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    assert!(denied.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    assert!(
        denied.headers().get("x-probe-event").is_none(),
        "viewer-response ran on a generated response"
    );
    assert_eq!(o.hits(), 0);

    let allowed = client()
        .get(proxy.url("/private"))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-probe-event"], "ViewerResponse");
    assert_eq!(o.hits(), 1);
}

#[tokio::test]
async fn viewer_request_changes_reach_the_origin() {
    let functions = function(
        "probe",
        guests::FIXTURE_PROBE,
        "[functions.probe.env]\nPROBE_VALUE = \"from-config\"",
    ) + &function("ab", guests::AB_TEST, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "viewer-request = { function = \"ab\" }\norigin-request = { function = \"probe\" }",
    )
    .await;
    let resp = client()
        .get(proxy.url("/landing.html?x=1"))
        .header("cookie", "ab=b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = o.last();
    assert_eq!(seen.uri, "/b/landing.html?x=1");
    assert_eq!(seen.headers["x-probe-event"], "OriginRequest");
    assert_eq!(seen.headers["x-probe-env"], "from-config");
}

#[tokio::test]
async fn header_edits_are_seen_by_later_reads_and_reach_the_origin_in_order() {
    let functions = function("probe", guests::FIXTURE_PROBE, "");
    let (o, _alt, proxy) =
        proxy_with(&functions, "viewer-request = { function = \"probe\" }").await;
    let resp = client()
        .get(proxy.url("/"))
        .header("x-probe", "edit-then-read")
        .header("x-probe-b", "to be removed")
        .header("x-probe-c", "replaced")
        .header("x-probe-d", "to be removed by an empty set")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = o.last();
    assert_eq!(seen.headers["x-probe-read"], "a=1,2;b=false;c=3,4;d=false");
    assert_eq!(seen.headers["x-probe-a"], "1, 2");
    assert!(!seen.headers.contains_key("x-probe-b"));
    assert_eq!(seen.headers["x-probe-c"], "3, 4");
    assert!(!seen.headers.contains_key("x-probe-d"));
}

#[tokio::test]
async fn origin_request_can_choose_another_origin() {
    let functions = function(
        "select",
        guests::ORIGIN_SELECT,
        "[functions.select.env]\nORIGIN_BY_PATH = \"/alt/=alt\"",
    );
    let (o, alt, proxy) =
        proxy_with(&functions, "origin-request = { function = \"select\" }").await;
    assert_eq!(
        client()
            .get(proxy.url("/alt/page"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "origin alt /alt/page"
    );
    assert_eq!(
        client()
            .get(proxy.url("/x"))
            .header("x-origin", "alt")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "origin alt /x"
    );
    assert_eq!(
        client()
            .get(proxy.url("/x"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "origin o /x"
    );
    assert_eq!((o.hits(), alt.hits()), (1, 2));
    // Naming an origin that does not exist is an invalid result.
    let bad = client()
        .get(proxy.url("/x"))
        .header("x-origin", "nowhere")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 502);
}

#[tokio::test]
async fn origin_request_generated_response_goes_through_viewer_response_only() {
    let functions = function("probe", guests::FIXTURE_PROBE, "")
        + &function("sec", guests::SECURITY_HEADERS, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "origin-request = { function = \"probe\" }\norigin-response = { function = \"probe\" }\nviewer-response = { function = \"sec\" }",
    )
    .await;
    let resp = client()
        .get(proxy.url("/"))
        .header("x-probe", "respond")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert!(
        resp.headers().get("x-probe-event").is_none(),
        "origin-response ran on a generated response"
    );
    assert_eq!(
        resp.text().await.unwrap(),
        "generated by probe at OriginRequest"
    );
    assert_eq!(o.hits(), 0);
}

#[tokio::test]
async fn origin_response_sets_headers_and_replaces_the_body() {
    let functions =
        function("cc", guests::CACHE_CONTROL, "") + &function("probe", guests::FIXTURE_PROBE, "");
    let (_o, _alt, proxy) = proxy_with(&functions, "origin-response = { function = \"cc\" }").await;
    let resp = client().get(proxy.url("/a")).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(resp.text().await.unwrap(), "origin o /a");

    let (_o, _alt, proxy) =
        proxy_with(&functions, "origin-response = { function = \"probe\" }").await;
    let resp = client()
        .get(proxy.url("/a"))
        .header("x-probe", "replace-response-body")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-probe-event"], "OriginResponse");
    assert_eq!(resp.headers()["content-length"], "25");
    assert_eq!(resp.text().await.unwrap(), "body from origin-response");
}

#[tokio::test]
async fn viewer_response_adds_security_headers_to_files_and_proxied_responses() {
    let functions = function(
        "sec",
        guests::SECURITY_HEADERS,
        "[functions.sec.env]\nCSP = \"default-src 'self'\"",
    );
    let (_o, _alt, proxy) =
        proxy_with(&functions, "viewer-response = { function = \"sec\" }").await;
    let resp = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains; preload"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        resp.headers()["content-security-policy"],
        "default-src 'self'"
    );
    assert_eq!(resp.text().await.unwrap(), "origin o /");
}

#[tokio::test]
async fn invalid_results_are_502() {
    let functions = function("bad", guests::FIXTURE_INVALID_HEADER, "")
        + &function("big", guests::FIXTURE_OVERSIZED_RESPONSE, "");
    let (o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"bad\" }").await;
    for mode in ["read-only", "disallowed", "status", "no-content", "uri"] {
        let resp = breaking(&proxy, "/", mode).await;
        assert_eq!(resp.status(), 502, "{mode}");
        let id = resp.headers()["x-edge-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let log = proxy.stderr();
        let line = log
            .lines()
            .find(|l| l.contains(&id) && l.contains("hook failed"))
            .unwrap_or_else(|| panic!("{mode}: no log line: {log}"));
        assert!(
            line.contains("bad") && line.contains("viewer-request"),
            "{line}"
        );
    }
    assert_eq!(o.hits(), 0);

    let (_o, _alt, proxy) =
        proxy_with(&functions, "viewer-response = { function = \"bad\" }").await;
    let resp = breaking(&proxy, "/", "viewer-status").await;
    assert_eq!(resp.status(), 502);

    let (_o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"big\" }").await;
    assert_eq!(
        client().get(proxy.url("/")).send().await.unwrap().status(),
        502
    );
    // The same response is within the 1 MB origin-request cap.
    let (_o, _alt, proxy) = proxy_with(&functions, "origin-request = { function = \"big\" }").await;
    assert_eq!(
        client().get(proxy.url("/")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn execution_failures_are_503_and_logged() {
    let functions = function("trap", guests::FIXTURE_TRAP, "")
        + &function("spin", guests::FIXTURE_SPIN, "timeout-ms = 200")
        + &function("bomb", guests::FIXTURE_MEMORY_BOMB, "memory-mb = 16")
        + &function("probe", guests::FIXTURE_PROBE, "");
    for (name, header) in [("trap", ""), ("spin", ""), ("bomb", ""), ("probe", "error")] {
        let (o, _alt, proxy) = proxy_with(
            &functions,
            &format!("viewer-request = {{ function = \"{name}\" }}"),
        )
        .await;
        let resp = client()
            .get(proxy.url("/"))
            .header("x-probe", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503, "{name}");
        assert_eq!(o.hits(), 0);
        let log = proxy.stderr();
        assert!(
            log.lines().any(|l| l.contains("hook failed")
                && l.contains(&format!("function=\"{name}\""))
                || l.contains("hook failed") && l.contains(name)),
            "{name}: {log}"
        );
        assert_eq!(
            proxy.health_status().await,
            200,
            "the proxy is still serving"
        );
    }
}

/// A hook that fails at any of the four triggers is answered with its status and a message
/// about the function, never with the origin server's address: at origin-response Pingora
/// wraps the hook's error in one naming the server it was talking to.
#[tokio::test]
async fn a_failed_hook_is_answered_without_the_origins_address_at_every_trigger() {
    let functions = function("trap", guests::FIXTURE_TRAP, "");
    for trigger in [
        "viewer-request",
        "origin-request",
        "origin-response",
        "viewer-response",
    ] {
        let (o, _alt, proxy) = proxy_with(
            &functions,
            &format!("{trigger} = {{ function = \"trap\" }}"),
        )
        .await;
        let resp = client().get(proxy.url("/")).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{trigger}");
        let body = resp.text().await.unwrap();
        assert_eq!(
            body, "503 Service Unavailable: the edge function failed\n",
            "{trigger}"
        );
        assert!(
            !body.contains(&o.addr.port().to_string()),
            "{trigger}: {body}"
        );
    }
}

/// A hook that hands the host an overlong list (50,000 deletes of names never sent, which the
/// SDK sends as one list of edits; 5,000 lines of one name in one `headers.set`; an origin with
/// 5,000 custom headers) is stopped at the bound before the host copies the list in: a 503 and
/// a log line naming the function and why, where lifting every element would have held the
/// worker and taken host memory several times the hook's own.
#[tokio::test]
async fn a_hook_flooding_the_host_with_a_list_is_503_and_logged() {
    let functions = function("flood", guests::FIXTURE_INVALID_HEADER, "");
    let (o, _alt, viewer) =
        proxy_with(&functions, "viewer-request = { function = \"flood\" }").await;
    let (o2, _alt2, origin) =
        proxy_with(&functions, "origin-request = { function = \"flood\" }").await;
    for (proxy, o, mode, why) in [
        (
            &viewer,
            &o,
            "many-edits",
            "a list of 50000 header edits, more than 4096",
        ),
        (
            &viewer,
            &o,
            "many-lines",
            "a list of 5000 header lines, more than 4096",
        ),
        (
            &origin,
            &o2,
            "many-origin-headers",
            "a list of 5000 custom headers, more than 4096",
        ),
    ] {
        let resp = breaking(proxy, "/", mode).await;
        assert_eq!(resp.status(), 503, "{mode}");
        assert_eq!(o.hits(), 0, "{mode}");
        let log = proxy.stderr();
        assert!(
            log.lines()
                .any(|l| l.contains("hook failed") && l.contains("flood") && l.contains(why)),
            "{mode}: {log}"
        );
    }
    for proxy in [&viewer, &origin] {
        assert_eq!(
            proxy.health_status().await,
            200,
            "the proxy is still serving"
        );
    }
}

/// The epoch thread sleeps once no wasm has run for 100 ticks (`hooks/epoch.rs`); the next call
/// must wake it before the guest runs, or a spinning guest would never yield and its worker
/// would hang. Each request here comes after such an idle spell.
#[tokio::test]
async fn a_spinning_hook_after_an_idle_spell_is_still_stopped_at_its_timeout() {
    let functions = function("spin", guests::FIXTURE_SPIN, "timeout-ms = 200");
    let (o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"spin\" }").await;
    for _ in 0..2 {
        // Longer than the 100 idle ticks (1 ms each) after which the epoch thread sleeps.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let resp = client().get(proxy.url("/")).send().await.unwrap();
        assert_eq!(resp.status(), 503);
    }
    assert_eq!(o.hits(), 0);
    let log = proxy.stderr();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("hook failed") && l.contains("timed out after 200 ms"))
            .count(),
        2,
        "{log}"
    );
}

#[tokio::test]
async fn include_body_exposes_truncates_and_replaces() {
    let functions = function("probe", guests::FIXTURE_PROBE, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "viewer-request = { function = \"probe\", include-body = true }",
    )
    .await;
    let small = client()
        .post(proxy.url("/upload"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    let seen = o.last();
    assert_eq!(seen.headers["x-probe-body-truncated"], "false");
    assert_eq!(seen.headers["x-probe-body-length"], "8"); // base64 of 5 bytes

    let big = "z".repeat(50 * 1024);
    let resp = client()
        .post(proxy.url("/upload"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = o.last();
    assert_eq!(seen.headers["x-probe-body-truncated"], "true");
    assert_eq!(
        seen.headers["x-probe-body-length"],
        (40_000usize.div_ceil(3) * 4).to_string()
    );
    assert_eq!(seen.body, big.as_bytes(), "the origin gets the whole body");
    assert_eq!(seen.headers["content-length"], big.len().to_string());

    let replaced = client()
        .post(proxy.url("/upload"))
        .header("x-probe", "replace-body")
        .body("original")
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    assert_eq!(o.last().headers["content-length"], "8");
    assert_eq!(o.last_body(), "replaced");
}

#[tokio::test]
async fn warm_environments_are_reused_but_never_across_functions() {
    let functions =
        function("a", guests::FIXTURE_PROBE, "") + &function("b", guests::FIXTURE_PROBE, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "viewer-request = { function = \"a\" }\norigin-request = { function = \"b\" }",
    )
    .await;
    for n in 1..=3 {
        client().get(proxy.url("/")).send().await.unwrap();
        // Each function counts its own invocations: state is per function, kept warm.
        assert_eq!(o.last().headers["x-probe-invocations"], n.to_string());
        assert_eq!(
            o.last().headers["x-probe-event"],
            "ViewerRequest, OriginRequest"
        );
    }
    let log = proxy.stderr();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("REPORT") && l.contains("Init Duration"))
            .count(),
        2,
        "{log}"
    );
    // Warm invocations' REPORT lines are debug-level: at info only the two cold starts show.
    assert_eq!(
        log.lines().filter(|l| l.contains("REPORT")).count(),
        2,
        "{log}"
    );
    assert!(
        log.contains("probe invocation 3 at ViewerRequest"),
        "guest stdout is logged: {log}"
    );
}

#[tokio::test]
async fn trapped_or_timed_out_environments_are_never_reused() {
    let functions = function("p", guests::FIXTURE_PROBE, "timeout-ms = 300");
    let (o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"p\" }").await;
    client().get(proxy.url("/")).send().await.unwrap();
    client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(o.last().headers["x-probe-invocations"], "2");
    for (mode, what) in [("trap", "trapped"), ("spin", "timed-out")] {
        let failed = client()
            .get(proxy.url("/"))
            .header("x-probe", mode)
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), 503, "{mode}");
        client().get(proxy.url("/")).send().await.unwrap();
        assert_eq!(
            o.last().headers["x-probe-invocations"],
            "1",
            "a {what} instance was reused"
        );
    }
}

#[tokio::test]
async fn per_request_isolation_never_shares_state() {
    let functions = function("p", guests::FIXTURE_PROBE, "isolation = \"per-request\"");
    let (o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"p\" }").await;
    for _ in 0..3 {
        client().get(proxy.url("/")).send().await.unwrap();
        assert_eq!(o.last().headers["x-probe-invocations"], "1");
    }
}

#[tokio::test]
async fn per_request_isolation_logs_failures_but_not_each_cold_start() {
    let functions = function("p", guests::FIXTURE_PROBE, "isolation = \"per-request\"");
    let (_o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"p\" }").await;
    // The first call finds nothing prepared and starts its environment on the request's path.
    for _ in 0..3 {
        let ok = client().get(proxy.url("/")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }
    let failed = client()
        .get(proxy.url("/"))
        .header("x-probe", "trap")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);
    let log = proxy.stderr();
    let reports: Vec<&str> = log.lines().filter(|l| l.contains("REPORT")).collect();
    // A fresh environment is every call's lot here, so its REPORT line is debug-level like a
    // warm call's elsewhere: at info only the failure shows.
    assert_eq!(reports.len(), 1, "{log}");
    assert!(reports[0].contains("Status: error"), "{log}");
}

#[tokio::test]
async fn invocations_beyond_max_concurrency_are_throttled() {
    let functions = function(
        "slow",
        guests::FIXTURE_PROBE,
        "timeout-ms = 1500\nmax-concurrency = 1",
    );
    let (_o, _alt, proxy) =
        proxy_with(&functions, "viewer-request = { function = \"slow\" }").await;
    let busy = tokio::spawn(
        client()
            .get(proxy.url("/"))
            .header("x-probe", "spin")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let throttled = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(throttled.status(), 503);
    assert!(proxy.stderr().contains("throttled"), "{}", proxy.stderr());
    assert_eq!(busy.await.unwrap().unwrap().status(), 503);
    // Once the slot is free, invocations run again.
    assert_eq!(
        client().get(proxy.url("/")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn a_spinning_hook_does_not_hold_up_another_behavior() {
    let o = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n{}\n[[behaviors]]\npath = \"/spin/*\"\norigin = \"o\"\n[behaviors.hooks]\nviewer-request = {{ function = \"spin\" }}\n\n[default-behavior]\norigin = \"o\"\n",
        o.addr,
        function("spin", guests::FIXTURE_SPIN, "timeout-ms = 3000")
    ));
    let spinning: Vec<_> = (0..2)
        .map(|_| tokio::spawn(client().get(proxy.url("/spin/x")).send()))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let resp = client().get(proxy.url("/fast")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Every fast request finished while both spinning hooks were still running.
    assert!(spinning.iter().all(|h| !h.is_finished()));
    for h in spinning {
        assert_eq!(h.await.unwrap().unwrap().status(), 503);
    }
}

#[tokio::test]
async fn a_python_hook_runs_on_the_same_contract() {
    let functions = function(
        "bots",
        guests::PYTHON_BOT_BLOCK,
        "[functions.bots.env]\nBLOCKED_AGENTS = \"badbot,scraper\"",
    );
    let (o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"bots\" }").await;
    let blocked = client()
        .get(proxy.url("/"))
        .header("user-agent", "BadBot/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403);
    assert_eq!(
        blocked.text().await.unwrap(),
        "Automated clients are not allowed here.\n"
    );
    assert_eq!(o.hits(), 0);
    let allowed = client()
        .get(proxy.url("/"))
        .header("user-agent", "Mozilla/5.0")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(o.last().headers["x-hook-language"], "python");
}

/// A body of `len` bytes that shows where any byte went missing or moved.
fn upload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"0123456789abcdef"[(i * 7 + i / 4096) % 16])
        .collect()
}

#[tokio::test]
async fn uploads_of_any_size_reach_the_origin_whole_past_include_body_hooks() {
    let functions = function("probe", guests::FIXTURE_PROBE, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "viewer-request = { function = \"probe\", include-body = true }\norigin-request = { function = \"probe\", include-body = true }",
    )
    .await;
    // Around each trigger's cap and Pingora's 64 KiB replay buffer, then 1 MiB and 10 MiB as
    // CloudFront users upload them: the hook sees at most 40 KB / 1 MB, the origin everything.
    for len in [
        39_999,
        40_001,
        65_535,
        65_537,
        200_000,
        999_999,
        1 << 20,
        10 << 20,
    ] {
        let body = upload(len);
        let resp = client()
            .put(proxy.url("/upload"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{len} bytes");
        let seen = o.last();
        assert_eq!(seen.body.len(), len, "{len} bytes reach the origin");
        assert!(seen.body == body, "{len} bytes reach the origin unchanged");
        let shown = |cap: usize| (len.min(cap).div_ceil(3) * 4, len > cap);
        let (viewer_len, viewer_cut) = shown(40_000);
        let (origin_len, origin_cut) = shown(1_000_000);
        assert_eq!(
            seen.headers["x-probe-body"],
            format!(
                "ViewerRequest {viewer_cut} {viewer_len}, OriginRequest {origin_cut} {origin_len}"
            ),
            "{len} bytes"
        );
    }
}

/// A chunked request (no Content-Length) over a raw socket, in 16 KiB chunks.
fn chunked_put(addr: std::net::SocketAddr, body: &[u8]) -> String {
    let mut request =
        b"PUT /chunked HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for chunk in body.chunks(16 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    raw_exchange(addr, &request, Duration::from_secs(10))
}

#[tokio::test]
async fn chunked_uploads_pass_include_body_hooks_or_get_411() {
    let functions = function("probe", guests::FIXTURE_PROBE, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "viewer-request = { function = \"probe\", include-body = true }",
    )
    .await;
    let addr = proxy.addr;
    // Past the viewer cap the rest stays in the connection: any size passes.
    for len in [1_000, 60_000, 3 << 20] {
        let body = upload(len);
        let sent = body.clone();
        let reply = tokio::task::spawn_blocking(move || chunked_put(addr, &sent))
            .await
            .unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "{len} bytes: {reply:.200}"
        );
        let seen = o.last();
        assert!(
            seen.body == body,
            "{len} chunked bytes reach the origin unchanged"
        );
        assert_eq!(
            seen.headers["x-probe-body-truncated"],
            (len > 40_000).to_string()
        );
    }

    // At origin-request (1 MB shown) a chunked body that ends between 64 KiB and 1 MB was read
    // whole past what can be replayed: 411, with the reason, and the origin never called.
    let functions = function("probe", guests::FIXTURE_PROBE, "");
    let (o, _alt, proxy) = proxy_with(
        &functions,
        "origin-request = { function = \"probe\", include-body = true }",
    )
    .await;
    let addr = proxy.addr;
    let reply = tokio::task::spawn_blocking(move || chunked_put(addr, &upload(200_000)))
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 411"), "{reply:.200}");
    assert_eq!(o.hits(), 0);
    let reply = tokio::task::spawn_blocking(move || chunked_put(addr, &upload(2 << 20)))
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply:.200}");
    assert_eq!(o.last().body.len(), 2 << 20);
    assert_eq!(o.last().headers["x-probe-body-truncated"], "true");
}

#[tokio::test]
async fn a_panicking_hook_is_named_by_its_panic_message_in_every_log() {
    let functions = function("probe", guests::FIXTURE_PROBE, "");
    let (_o, _alt, proxy) =
        proxy_with(&functions, "viewer-request = { function = \"probe\" }").await;
    let resp = client()
        .get(proxy.url("/panics"))
        .header("x-probe", "trap")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let said = "probe was asked to trap";
    let log = proxy.stderr();
    let warn = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("hook failed") && l.contains(&id))
        .unwrap_or_else(|| panic!("no WARN line: {log}"));
    assert!(
        warn.contains(said) && warn.contains("panicked at"),
        "{warn}"
    );
    assert!(
        !warn.contains('\u{1b}'),
        "plain text when stderr is a file: {warn:?}"
    );
    let report = log
        .lines()
        .find(|l| l.contains("REPORT RequestId: ") && l.contains(&id))
        .unwrap_or_else(|| panic!("no REPORT line: {log}"));
    assert!(
        report.contains("Status: error") && report.contains(said),
        "{report}"
    );
    let access = proxy.access_log_line(&id);
    assert!(
        access["error"].as_str().unwrap_or("").contains(said),
        "{access}"
    );
}

#[tokio::test]
async fn the_access_log_keeps_the_viewers_path_beside_the_one_the_origin_was_asked_for() {
    let functions =
        function("ab", guests::AB_TEST, "") + &function("bad", guests::FIXTURE_INVALID_HEADER, "");
    let (o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"ab\" }").await;
    let resp = client()
        .get(proxy.url("/page?q=1"))
        .header("cookie", "ab=b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.stderr());
    assert_eq!(o.last().uri, "/b/page?q=1");
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let line = proxy.access_log_line(&id);
    assert_eq!(line["path"], "/page?q=1");
    assert_eq!(line["origin_path"], "/b/page?q=1");

    // A rewrite that fails validation (502): the viewer's path, and no origin asked.
    let (_o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"bad\" }").await;
    let resp = breaking(&proxy, "/mine", "uri").await;
    assert_eq!(resp.status(), 502);
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let line = proxy.access_log_line(&id);
    assert_eq!(line["path"], "/mine");
    assert!(line.get("origin_path").is_none(), "{line}");
}

#[tokio::test]
async fn a_javascript_hook_ported_from_aws_runs_and_its_exceptions_are_named() {
    let functions = function("sec", guests::JS_SECURITY_HEADERS, "");
    let (_o, _alt, proxy) =
        proxy_with(&functions, "viewer-response = { function = \"sec\" }").await;
    let resp = client().get(proxy.url("/page")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.stderr());
    let h = resp.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(
        h["strict-transport-security"],
        "max-age=63072000; includeSubdomains; preload"
    );
    assert_eq!(h["content-type"], "text/plain", "the origin's headers stay");
    assert_eq!(resp.text().await.unwrap(), "origin o /page");

    // Attached where there is no response, AWS's code throws a TypeError: a function error
    // (503) named by the exception in the WARN line and the access log.
    let (_o, _alt, proxy) = proxy_with(&functions, "viewer-request = { function = \"sec\" }").await;
    let resp = client().get(proxy.url("/page")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let log = proxy.stderr();
    let warn = log
        .lines()
        .find(|l| l.contains("hook failed") && l.contains(&id))
        .unwrap_or_else(|| panic!("no WARN line: {log}"));
    assert!(warn.contains("TypeError"), "{warn}");
    let access = proxy.access_log_line(&id);
    assert!(
        access["error"].as_str().unwrap_or("").contains("TypeError"),
        "{access}"
    );
}

#[tokio::test]
async fn a_javascript_hooks_header_edits_reach_the_origin() {
    // The wrapper turns AWS's header object into the contract's flat edits: several lines of
    // one name (a set and an append), a deleted name and a name left with no lines (deletes).
    let functions = function("edits", guests::JS_HEADER_EDITS, "");
    let (o, _alt, proxy) =
        proxy_with(&functions, "viewer-request = { function = \"edits\" }").await;
    let resp = client()
        .get(proxy.url("/page"))
        .header("x-multi", "old")
        .header("x-gone", "1")
        .header("x-emptied", "2")
        .header("x-kept", "3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.stderr());
    let seen = o.last();
    assert_eq!(seen.headers["x-multi"], "one, two");
    assert!(!seen.headers.contains_key("x-gone"), "{:?}", seen.headers);
    assert!(
        !seen.headers.contains_key("x-emptied"),
        "{:?}",
        seen.headers
    );
    assert_eq!(seen.headers["x-kept"], "3");
}

#[tokio::test]
async fn a_raising_python_hook_is_named_by_its_message() {
    // The sample raises Err when attached anywhere but viewer-request: a function error (503)
    // whose message is in the WARN line and the access log.
    let functions = function("bots", guests::PYTHON_BOT_BLOCK, "");
    let (_o, _alt, proxy) =
        proxy_with(&functions, "origin-request = { function = \"bots\" }").await;
    let resp = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let said = "python-bot-block runs at viewer-request";
    let log = proxy.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("hook failed") && l.contains(&id) && l.contains(said)),
        "{log}"
    );
    let access = proxy.access_log_line(&id);
    assert!(
        access["error"].as_str().unwrap_or("").contains(said),
        "{access}"
    );
}
