//! Ported functions: for each of AWS's sample Lambda@Edge events (`tests/vectors/cf-*.json`),
//! the equivalent request is replayed through the live proxy and a probe hook at that trigger
//! answers with the event it saw, as AWS JSON. The two must match field by field: the same keys
//! at every level, the same JSON types, and the same values except where a value must differ
//! (listed per sample with the reason), so a function written against AWS's events reads the
//! same fields here.

use std::time::Duration;

use edge_test_artifacts as guests;
use serde_json::Value;

use crate::support::{raw_exchange_off_runtime, Origin, Proxy};

/// A proxy whose node and origin are configured like the samples' distribution: the sample's
/// distribution id and domain, an origin sending `Host: example.org` with CloudFront's default
/// timeouts (30 s read, 5 s keep-alive), and `probe` at `trigger`.
async fn distribution(trigger: &str) -> (Origin, Proxy) {
    let origin = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[node]\nname = \"EDFDVBD6EXAMPLE\"\ndistribution-domain-name = \"d111111abcdef8.cloudfront.net\"\n\n\
         [functions.probe]\nmodule = \"{}\"\n\n\
         [origins.o]\ntype = \"http\"\nservers = [\"{}\"]\nhost-header = \"example.org\"\nread-timeout-ms = 30000\nidle-timeout-ms = 5000\n\n\
         [default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\n{trigger} = {{ function = \"probe\" }}\n",
        guests::FIXTURE_PROBE,
        origin.addr
    ));
    (origin, proxy)
}

/// The sample's `Records[0].cf`.
fn sample(name: &str) -> Value {
    let path = format!("{}/vectors/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["Records"][0]["cf"].clone()
}

/// Sends the viewer request behind `cf` (its method, uri, querystring and viewer headers, names
/// in the sample's case) with `x-probe: event`, and returns the event the probe answered with.
async fn event_seen(proxy: &Proxy, viewer_headers: &[(&str, &str)], cf: &Value) -> Value {
    let request = &cf["request"];
    let query = request["querystring"].as_str().unwrap();
    let target = format!(
        "{}{}{query}",
        request["uri"].as_str().unwrap(),
        if query.is_empty() { "" } else { "?" }
    );
    let mut text = format!(
        "{} {target} HTTP/1.1\r\n",
        request["method"].as_str().unwrap()
    );
    for (name, value) in viewer_headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("x-probe: event\r\nConnection: close\r\n\r\n");
    let reply = raw_exchange_off_runtime(proxy.addr, text, Duration::from_secs(10)).await;
    let (head, body) = reply.split_once("\r\n\r\n").expect("a response");
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{head}\n{}",
        proxy.stderr()
    );
    let seen: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    seen["Records"][0]["cf"].clone()
}

/// Compares `seen` with `sample` field by field; values at the paths in `differ` may differ
/// (their keys and types may not); paths in `open_maps` are header maps whose names depend on
/// the origin, checked only for the `[{key, value}]` shape.
fn assert_same_shape(
    sample: &Value,
    seen: &Value,
    path: &str,
    differ: &[&str],
    open_maps: &[&str],
) {
    // The probe's own request header is in every event; the sample has no such line.
    let skip = |key: &str| key == "x-probe";
    if open_maps.contains(&path) {
        for (name, lines) in seen.as_object().unwrap_or_else(|| panic!("{path}: {seen}")) {
            let lines = lines.as_array().unwrap_or_else(|| panic!("{path}.{name}"));
            for line in lines {
                assert!(
                    line["key"].is_string() && line["value"].is_string(),
                    "{path}.{name}: {line}"
                );
                assert_eq!(line["key"].as_str().unwrap().to_ascii_lowercase(), *name);
            }
        }
        return;
    }
    match (sample, seen) {
        (Value::Object(a), Value::Object(b)) => {
            let mut want: Vec<&String> = a.keys().collect();
            let mut got: Vec<&String> = b.keys().filter(|k| !skip(k)).collect();
            want.sort();
            got.sort();
            assert_eq!(want, got, "keys of {path}");
            for (key, value) in a {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                assert_same_shape(value, &b[key], &child, differ, open_maps);
            }
        }
        (Value::Array(a), Value::Array(b)) if !differ.contains(&path) => {
            assert_eq!(a.len(), b.len(), "length of {path}: {sample} vs {seen}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same_shape(x, y, &format!("{path}[{i}]"), differ, open_maps);
            }
        }
        _ => {
            assert_eq!(
                std::mem::discriminant(sample),
                std::mem::discriminant(seen),
                "type of {path}: {sample} vs {seen}"
            );
            if !differ.contains(&path) {
                assert_eq!(sample, seen, "{path}");
            }
        }
    }
}

/// The viewer headers of AWS's viewer samples, in their case.
const VIEWER: &[(&str, &str)] = &[
    ("Host", "d111111abcdef8.cloudfront.net"),
    ("User-Agent", "curl/7.66.0"),
    ("accept", "*/*"),
];

/// What the origin samples show CloudFront received from its viewer (the user agent and
/// cache-control it forwarded).
const VIEWER_OF_ORIGIN_SAMPLES: &[(&str, &str)] = &[
    ("Host", "d111111abcdef8.cloudfront.net"),
    ("User-Agent", "Amazon CloudFront"),
    ("Cache-Control", "no-cache, cf-no-cache"),
];

/// Values that differ in every event: the request id is per request, the viewer is this test.
const ALWAYS: [&str; 2] = ["config.requestId", "request.clientIp"];

/// What differs at the origin events, and why: the viewer's address is this test's; `Via`
/// names this node, not a CloudFront host; the test's origin is plain HTTP on a local port, not
/// `https://example.org:443`; edge-proxy speaks TLSv1.2 (and 1.3) to origins, and lists that.
const ORIGIN_DIFFERS: [&str; 6] = [
    "request.headers.x-forwarded-for[0].value",
    "request.headers.via[0].value",
    "request.origin.custom.domainName",
    "request.origin.custom.port",
    "request.origin.custom.protocol",
    "request.origin.custom.sslProtocols",
];

#[tokio::test]
async fn viewer_request_event_matches_aws_sample() {
    let (_o, proxy) = distribution("viewer-request").await;
    let want = sample("cf-viewer-request");
    let seen = event_seen(&proxy, VIEWER, &want).await;
    assert_same_shape(&want, &seen, "", &ALWAYS, &[]);
}

#[tokio::test]
async fn origin_request_event_matches_aws_sample() {
    let (_o, proxy) = distribution("origin-request").await;
    let want = sample("cf-origin-request");
    let seen = event_seen(&proxy, VIEWER_OF_ORIGIN_SAMPLES, &want).await;
    let differ = [&ALWAYS[..], &ORIGIN_DIFFERS[..]].concat();
    assert_same_shape(&want, &seen, "", &differ, &[]);
    assert_eq!(
        seen["request"]["headers"]["x-forwarded-for"][0]["value"],
        "127.0.0.1"
    );
    let via = seen["request"]["headers"]["via"][0]["value"]
        .as_str()
        .unwrap();
    assert!(via.ends_with("EDFDVBD6EXAMPLE"), "{via}");
}

#[tokio::test]
async fn origin_response_event_matches_aws_sample() {
    let (_o, proxy) = distribution("origin-response").await;
    let want = sample("cf-origin-response");
    let seen = event_seen(&proxy, VIEWER_OF_ORIGIN_SAMPLES, &want).await;
    let differ = [&ALWAYS[..], &ORIGIN_DIFFERS[..]].concat();
    // The response headers are whatever the origin sent.
    assert_same_shape(&want, &seen, "", &differ, &["response.headers"]);
}

#[tokio::test]
async fn viewer_response_event_matches_aws_sample() {
    let (_o, proxy) = distribution("viewer-response").await;
    let want = sample("cf-viewer-response");
    let seen = event_seen(&proxy, VIEWER, &want).await;
    assert_same_shape(&want, &seen, "", &ALWAYS, &["response.headers"]);
}

/// A proxy in front of an origin whose `host-header` is `example.org`, running `origin_request`
/// (a fixture) at origin-request and the probe at viewer-response, asked by a viewer of
/// `viewer.example` for the event the last probe saw: that event, after checking it is
/// viewer-response's and that its request is the viewer's (its `Host`, and neither `Via` nor
/// `X-Forwarded-For`), as CloudFront's is, whatever origin-request did to the request.
async fn viewer_response_event_after(origin_request: &str) -> (Origin, Value) {
    let origin = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "[functions.at-origin]\nmodule = \"{origin_request}\"\n[functions.probe]\nmodule = \"{}\"\n\n\
         [origins.o]\ntype = \"http\"\nservers = [\"{}\"]\nhost-header = \"example.org\"\n\n\
         [default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\norigin-request = {{ function = \"at-origin\" }}\nviewer-response = {{ function = \"probe\" }}\n",
        guests::FIXTURE_PROBE,
        origin.addr
    ));
    let reply = raw_exchange_off_runtime(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: viewer.example\r\nx-probe: event\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    // viewer-response replaced the body with its event.
    let body = reply.split_once("\r\n\r\n").unwrap().1;
    let seen: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"));
    assert_eq!(
        seen["Records"][0]["cf"]["config"]["eventType"],
        "viewer-response"
    );
    let request = &seen["Records"][0]["cf"]["request"];
    assert_eq!(request["headers"]["host"][0]["value"], "viewer.example");
    assert!(request["headers"].get("via").is_none(), "{request}");
    assert!(
        request["headers"].get("x-forwarded-for").is_none(),
        "{request}"
    );
    (origin, seen)
}

#[tokio::test]
async fn viewer_response_shows_the_viewers_request_after_origin_request_ran() {
    // origin-request puts X-Forwarded-For, Via and the origin's Host on the request and
    // answers with its event (a generated response goes on to viewer-response).
    let (origin, seen) = viewer_response_event_after(guests::FIXTURE_PROBE).await;
    assert!(seen["Records"][0]["cf"]["request"].get("origin").is_none());
    assert_eq!(origin.hits(), 0, "origin-request answered");
}

#[tokio::test]
async fn an_origin_request_that_lets_the_request_through_leaves_the_viewers_for_viewer_response() {
    // origin-request sees the origin's headers and changes nothing: they reach the origin all
    // the same.
    let (origin, _) = viewer_response_event_after(guests::FIXTURE_NOOP).await;
    assert_eq!(origin.hits(), 1);
    let sent = origin.last();
    assert_eq!(sent.headers["host"], "example.org");
    assert_eq!(sent.headers["x-forwarded-for"], "127.0.0.1");
    assert!(
        sent.headers["via"].starts_with("1.1 "),
        "{:?}",
        sent.headers
    );
}

#[tokio::test]
async fn a_changed_origin_field_takes_effect_and_an_unchanged_origin_stays_configured() {
    let (o, proxy) = distribution("origin-request").await;
    let client = crate::support::client();
    // Returned as shown: the configured origin, with its Host.
    let resp = client.get(proxy.url("/a")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(o.last().uri, "/a");
    assert_eq!(o.last().headers["host"], "example.org");
    // origin.custom.path changed: the same server, the path in front of the uri.
    let resp = client
        .get(proxy.url("/a"))
        .header("x-probe", "origin-path")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.stderr());
    assert_eq!(o.last().uri, "/prefix/a");
    assert_eq!(o.hits(), 2);
}

#[tokio::test]
async fn an_origin_set_back_as_shown_keeps_the_configured_servers() {
    // Shown as `origin.custom` with its first server; set back unchanged, the request stays
    // on the configured origin and its balancer (a custom origin would be that server alone).
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&format!(
        "[functions.probe]\nmodule = \"{}\"\n\n[origins.pool]\ntype = \"http\"\nservers = [\"{}\", \"{}\"]\n\n\
         [default-behavior]\norigin = \"pool\"\n[default-behavior.hooks]\norigin-request = {{ function = \"probe\" }}\n",
        guests::FIXTURE_PROBE,
        a.addr,
        b.addr
    ));
    let client = crate::support::client();
    for _ in 0..10 {
        let resp = client
            .get(proxy.url("/a"))
            .header("x-probe", "origin-echo")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", proxy.stderr());
    }
    assert!(
        a.hits() >= 4 && b.hits() >= 4,
        "a={} b={}",
        a.hits(),
        b.hits()
    );
}

#[tokio::test]
async fn a_files_origin_is_shown_as_s3_and_served_when_returned_unchanged() {
    let proxy = Proxy::start_with(
        &format!(
            "[functions.probe]\nmodule = \"{}\"\n\n[origins.site]\ntype = \"files\"\nroot = \"{{dir}}/site\"\n\n\
             [default-behavior]\norigin = \"site\"\n[default-behavior.hooks]\norigin-request = {{ function = \"probe\" }}\n",
            guests::FIXTURE_PROBE
        ),
        |dir| {
            std::fs::create_dir_all(dir.join("site")).unwrap();
            std::fs::write(dir.join("site/index.html"), "from the bucket").unwrap();
        },
    );
    let client = crate::support::client();
    let body = client
        .get(proxy.url("/index.html"))
        .header("x-probe", "event")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seen: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let origin = &seen["Records"][0]["cf"]["request"]["origin"];
    assert_eq!(
        *origin,
        serde_json::json!({"s3": {"authMethod": "none", "customHeaders": {}, "domainName": "site", "path": "", "region": ""}})
    );
    let resp = client.get(proxy.url("/index.html")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "from the bucket");
}
