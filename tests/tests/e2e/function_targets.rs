//! Function targets: HTTP ⇄ the ALB's Lambda JSON, through the live proxy with a real client —
//! a wasm function (alb-hello) and a real Lambda Invoke API endpoint (apig-wsgi).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edge_test_artifacts as guests;

use crate::support::{client, free_port, invoke_endpoint, raw_exchange, Proxy};

fn hello(multi: bool) -> Proxy {
    Proxy::start(&format!(
        "[functions.hello]\nmodule = \"{}\"\n\n[origins.api]\ntype = \"function\"\nfunction = \"hello\"\nmulti-value-headers = {multi}\n\n[default-behavior]\norigin = \"api\"\n",
        guests::ALB_HELLO
    ))
}

async fn echo(proxy: &Proxy, url: &str) -> (reqwest::header::HeaderMap, serde_json::Value) {
    let resp = client()
        .get(proxy.url(url))
        .header("x-rep", "1")
        .header("x-rep", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    (
        headers,
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap(),
    )
}

fn values<'a>(pairs: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    pairs
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[0] == name)
        .map(|p| p[1].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_wasm_target_on_the_synchronous_path_answers_as_on_the_asynchronous_one() {
    // A CPU budget within the slow lane's threshold puts the function on the synchronous path.
    let config = |budget: &str| {
        format!(
            "[node]\nslow-lane-after-ms = 50\n\n[functions.hello]\nmodule = \"{}\"\n{budget}\n\n[origins.api]\ntype = \"function\"\nfunction = \"hello\"\nmulti-value-headers = true\n\n[default-behavior]\norigin = \"api\"\n",
            guests::ALB_HELLO
        )
    };
    let synchronous = Proxy::start(&config("cpu-budget-ms = 50"));
    let asynchronous = Proxy::start(&config(""));
    let url = "/api/hello?a=1&a=2&enc=%3FshowAll%3Dtrue";
    let (sync_headers, sync_event) = echo(&synchronous, url).await;
    let (async_headers, async_event) = echo(&asynchronous, url).await;
    assert_eq!(sync_event["multiValue"], true);
    for field in ["query", "path", "method", "body"] {
        assert_eq!(sync_event[field], async_event[field], "{field}");
    }
    assert_eq!(values(&sync_event["headers"], "x-rep"), ["1", "2"]);
    let cookies = |h: &reqwest::header::HeaderMap| h.get_all("set-cookie").iter().count();
    assert_eq!(cookies(&sync_headers), 2);
    assert_eq!(cookies(&sync_headers), cookies(&async_headers));
}

#[tokio::test]
async fn a_wasm_target_without_a_budget_runs_a_call_that_waits_again_on_the_asynchronous_path() {
    let proxy = Proxy::start(&format!(
        "[node]\nworker-threads = 1\n\n[functions.probe]\nmodule = \"{}\"\n\n[origins.api]\ntype = \"function\"\nfunction = \"probe\"\n\n[default-behavior]\norigin = \"api\"\n",
        guests::FIXTURE_ALB_PROBE
    ));
    let call = |probe: &'static str| {
        let url = proxy.url("/api/p");
        async move {
            let resp = client()
                .get(url)
                .header("x-probe", probe)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let invocations = resp.headers()["x-probe-invocations"]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(resp.text().await.unwrap(), "/api/p");
            invocations
        }
    };
    let moves = |log: &str| {
        log.lines()
            .filter(|l| l.contains("probe") && l.contains("moves to the asynchronous path"))
            .count()
    };
    // Warm calls on the synchronous path: one environment, its module state kept.
    assert_eq!(call("").await, "1");
    assert_eq!(call("").await, "2");
    assert_eq!(moves(&proxy.stderr()), 0);

    // A call that waits is stopped and runs again, from the same event, on a fresh
    // environment on the asynchronous path: one answer, what the first attempt printed unlogged.
    assert_eq!(call("sleep").await, "1");
    let log = proxy.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("moves to the asynchronous path: a call")
                && l.contains("would wait")),
        "{log}"
    );
    assert!(!log.contains("alb probe invocation 3"), "{log}");
    // The first warm call's line, and the fresh environment's first.
    let printed_first = |l: &&str| l.contains("alb probe invocation 1");
    assert_eq!(log.lines().filter(printed_first).count(), 2, "{log}");

    // It stays there: waits are fine, the environment is kept, no second move.
    assert_eq!(call("sleep").await, "2");
    assert_eq!(moves(&proxy.stderr()), 1);
    let metrics = proxy.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "edge_function_ran_again_total{function=\"probe\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn single_value_mode_keeps_the_last_repeat_and_raw_query() {
    let proxy = hello(false);
    let (headers, e) = echo(&proxy, "/api/hello?a=1&a=2&enc=%3FshowAll%3Dtrue").await;
    assert_eq!(e["multiValue"], false);
    assert_eq!(values(&e["query"], "a"), ["2"]);
    assert_eq!(values(&e["query"], "enc"), ["%3FshowAll%3Dtrue"]);
    assert_eq!(values(&e["headers"], "x-rep"), ["2"]);
    assert_eq!(values(&e["headers"], "x-forwarded-proto"), ["http"]);
    assert!(values(&e["headers"], "x-amzn-trace-id")[0].starts_with("Root=1-"));
    // Single-value results hold one value per header: the last cookie.
    assert_eq!(headers.get_all("set-cookie").iter().count(), 1);
}

#[tokio::test]
async fn multi_value_mode_keeps_every_repeat_in_order_and_both_cookies() {
    let proxy = hello(true);
    let (headers, e) = echo(&proxy, "/api/hello?a=1&a=2&b=").await;
    assert_eq!(e["multiValue"], true);
    assert_eq!(values(&e["query"], "a"), ["1", "2"]);
    assert_eq!(values(&e["query"], "b"), [""]);
    assert_eq!(values(&e["headers"], "x-rep"), ["1", "2"]);
    let cookies: Vec<_> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        cookies,
        ["session=abc123; Path=/; HttpOnly", "theme=dark; Path=/"]
    );
}

#[tokio::test]
async fn binary_bodies_cross_byte_for_byte_and_empty_bodies_stay_empty() {
    let proxy = hello(true);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let resp = client()
        .post(proxy.url("/api/echo-body"))
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let png = client()
        .get(proxy.url("/api/pixel.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(png.len(), 67);
    assert_eq!(&png[png.len() - 8..], b"IEND\xae\x42\x60\x82");

    let (_, e) = echo(&proxy, "/api/empty").await;
    assert_eq!(e["bodyLength"], 0);
    assert_eq!(e["body"], "");
}

#[tokio::test]
async fn oversized_bodies_are_413_and_websocket_upgrades_400() {
    let proxy = hello(false);
    let big = vec![b'x'; 1024 * 1024 + 1];
    let resp = client()
        .post(proxy.url("/api/x"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let ws = client()
        .get(proxy.url("/api/socket"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), 400);
}

/// A real Lambda Invoke API endpoint: a WSGI app behind apig-wsgi (tests/lambda).
struct InvokeEndpoint {
    child: Child,
    addr: SocketAddr,
}

impl InvokeEndpoint {
    fn start() -> InvokeEndpoint {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join("target/py/bin/python");
        assert!(
            python.exists(),
            "{} is missing: scripts/setup.sh installs it (make test runs it)",
            python.display()
        );
        let port = free_port();
        let mut child = Command::new(python)
            .arg(root.join("tests/lambda/wsgi_invoke_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        InvokeEndpoint {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn url(&self) -> String {
        format!(
            "http://{}/2015-03-31/functions/function/invocations",
            self.addr
        )
    }
}

impl Drop for InvokeEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn remote(url: &str, multi: bool, timeout_ms: u64) -> Proxy {
    remote_with(
        url,
        &format!("multi-value-headers = {multi}\ntimeout-ms = {timeout_ms}"),
    )
}

fn remote_with(url: &str, settings: &str) -> Proxy {
    Proxy::start(&format!(
        "[origins.wsgi]\ntype = \"function\"\ninvoke-url = \"{url}\"\n{settings}\n\n[default-behavior]\norigin = \"wsgi\"\n"
    ))
}

#[tokio::test]
async fn api_gateway_payloads_round_trip_through_the_same_app() {
    let endpoint = InvokeEndpoint::start();
    for payload in ["api-gateway-v1", "api-gateway-v2"] {
        let proxy = remote_with(&endpoint.url(), &format!("payload = \"{payload}\""));
        let resp = client()
            .post(proxy.url("/wsgi/items?q=a%20b"))
            .header("x-rep", "one")
            .header("cookie", "c1=1; c2=2")
            .body("123")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{payload}");
        assert_eq!(
            resp.headers().get_all("set-cookie").iter().count(),
            2,
            "{payload}"
        );
        let echo: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!(echo["path"], "/wsgi/items", "{payload}");
        assert_eq!(echo["header_x_rep"], "one", "{payload}");
        assert_eq!(echo["body_length"], 3, "{payload}");
    }
}

#[tokio::test]
async fn a_wsgi_app_behind_apig_wsgi_round_trips() {
    let endpoint = InvokeEndpoint::start();
    let proxy = remote(&endpoint.url(), true, 5000);
    let resp = client()
        .post(proxy.url("/wsgi/items?q=a%20b&q=c"))
        .header("x-rep", "one")
        .body("12345")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let cookies: Vec<_> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/"]);
    let echo: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/wsgi/items");
    assert_eq!(echo["header_x_rep"], "one");
    assert_eq!(echo["body_length"], 5);
    assert!(echo["query"].as_str().unwrap().contains("q=c"), "{echo}");

    // The app raising is a function error: 502.
    let failed = client().get(proxy.url("/wsgi/fail")).send().await.unwrap();
    assert_eq!(failed.status(), 502);
    assert!(
        proxy.stderr().contains("X-Amz-Function-Error")
            || proxy.stderr().contains("function error"),
        "{}",
        proxy.stderr()
    );
}

#[tokio::test]
async fn malformed_results_and_functions_past_their_timeout_are_502() {
    // An endpoint that answers garbage, or nothing in time.
    let addr = invoke_endpoint(|request| {
        if request.contains("/slow/") {
            None
        } else if request.contains("/null-body/") {
            Some(r#"{"statusCode": 200, "body": null}"#)
        } else {
            Some("this is not json")
        }
    })
    .await;
    // The ALB answers 502 when the function does not respond before its timeout (504 is for
    // the Lambda service not accepting the connection).
    for (path, status) in [("garbage", 502), ("null-body", 502), ("slow", 502)] {
        let proxy = remote(&format!("http://{addr}/{path}/invocations"), false, 500);
        let resp = client().get(proxy.url("/x")).send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        let id = resp.headers()["x-edge-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let log = proxy.stderr();
        assert!(
            log.lines().any(|l| l.contains(&id)
                && l.contains("function target failed")
                && l.contains("wsgi")),
            "{path}: {log}"
        );
    }
}

#[tokio::test]
async fn an_untyped_binary_body_reaches_an_alb_target_base64_encoded_and_api_gateway_as_text() {
    // The endpoint answers 200 only for the event each payload's rule makes.
    let addr = invoke_endpoint(|request| {
        let alb = request.contains("\"body\":\"AJ+Slg==\"")
            && request.contains("\"isBase64Encoded\":true");
        let apigw = request.contains("\"body\":\"plain words\"")
            && request.contains("\"isBase64Encoded\":false");
        Some(if alb || apigw {
            r#"{"statusCode": 200, "body": "seen"}"#
        } else {
            r#"{"statusCode": 418, "body": "unexpected event"}"#
        })
    })
    .await;
    let url = format!("http://{addr}/2015-03-31/functions/f/invocations");
    let alb = remote_with(&url, "");
    let resp = client()
        .post(alb.url("/upload"))
        .body(vec![0u8, 159, 146, 150])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", alb.stderr());
    assert_eq!(resp.text().await.unwrap(), "seen");
    let rest = remote_with(&url, "payload = \"api-gateway-v1\"");
    let resp = client()
        .post(rest.url("/upload"))
        .body("plain words")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_rest_api_payload_keeps_the_header_case_the_client_sent() {
    let addr = invoke_endpoint(|request| {
        Some(
            if request.contains("\"X-Mixed-Case\":\"v\"") && !request.contains("\"x-mixed-case\"") {
                r#"{"statusCode": 200, "body": "kept"}"#
            } else {
                r#"{"statusCode": 418, "body": "lowercased"}"#
            },
        )
    })
    .await;
    let url = format!("http://{addr}/2015-03-31/functions/f/invocations");
    // reqwest sends every name in lowercase; a raw request keeps the case. Off the runtime
    // thread, which the invoke endpoint needs meanwhile.
    let send = |proxy: &Proxy| {
        let addr = proxy.addr;
        tokio::task::spawn_blocking(move || {
            raw_exchange(
                addr,
                b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Mixed-Case: v\r\nConnection: close\r\n\r\n",
                Duration::from_secs(5),
            )
        })
    };
    let rest = remote_with(&url, "payload = \"api-gateway-v1\"");
    let reply = send(&rest).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("kept"), "{reply}");
    // Payload 2.0 lowercases, as HTTP APIs do.
    let http_api = remote_with(&url, "payload = \"api-gateway-v2\"");
    assert!(send(&http_api).await.unwrap().ends_with("lowercased"));
}

#[tokio::test]
async fn an_invoke_endpoint_that_accepts_no_connection_in_time_is_504() {
    // A listener whose accept queue is full and never drained: the kernel drops further SYNs,
    // so connecting hangs, as a Lambda service that does not answer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let proxy = remote(&format!("http://{addr}/invocations"), false, 800);
    let resp = client().get(proxy.url("/x")).send().await.unwrap();
    assert_eq!(resp.status(), 504, "{}", proxy.stderr());
    assert!(
        proxy.stderr().contains("accepted no connection"),
        "{}",
        proxy.stderr()
    );
    drop((listener, fillers));
}

#[tokio::test]
async fn a_response_header_block_over_the_albs_32_kib_is_502() {
    fn answer(request: &str) -> Option<&'static str> {
        static BIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        static SMALL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let result = |len: usize| {
            format!(
                r#"{{"statusCode": 200, "headers": {{"x-big": "{}"}}, "body": "ok"}}"#,
                "v".repeat(len)
            )
        };
        Some(if request.contains("/big/") {
            BIG.get_or_init(|| result(33 * 1024))
        } else {
            SMALL.get_or_init(|| result(30 * 1024))
        })
    }
    let addr = invoke_endpoint(answer).await;
    let big = remote(&format!("http://{addr}/big/invocations"), false, 5000);
    let resp = client().get(big.url("/x")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(
        big.stderr().contains("32768-byte limit"),
        "{}",
        big.stderr()
    );
    let small = remote(&format!("http://{addr}/small/invocations"), false, 5000);
    let resp = client().get(small.url("/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-big"].len(), 30 * 1024);
}

#[tokio::test]
async fn request_heads_past_the_albs_limits_are_400_before_the_function() {
    // The node's own limits raised past the ALB's, so the target's are the ones that bite.
    let proxy = Proxy::start(&format!(
        "[limits]\nmax-request-header-bytes = 131072\nmax-request-line-bytes = 65536\nmax-request-header-line-bytes = 65536\n\n\
         [functions.hello]\nmodule = \"{}\"\n\n[origins.api]\ntype = \"function\"\nfunction = \"hello\"\n\n[default-behavior]\norigin = \"api\"\n",
        guests::ALB_HELLO
    ));
    let k16 = 16 * 1024;
    let send = |path: String, headers: Vec<(String, String)>| {
        let addr = proxy.addr;
        let mut text = format!("GET {path} HTTP/1.1\r\nHost: a\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("Connection: close\r\n\r\n");
        tokio::task::spawn_blocking(move || {
            raw_exchange(addr, text.as_bytes(), Duration::from_secs(5))
        })
    };
    let status = |reply: String| reply.split_whitespace().nth(1).unwrap_or("").to_string();
    // Within every limit.
    let near = "h".repeat(k16 - 20);
    let reply = send("/ok".into(), vec![("x-near".into(), near)])
        .await
        .unwrap();
    assert_eq!(status(reply.clone()), "200", "{reply:.300}");
    // A request line, a single header line, and a whole head past 16, 16 and 64 KiB.
    let long_path = format!("/{}", "p".repeat(k16));
    let reply = send(long_path, vec![]).await.unwrap();
    assert_eq!(status(reply.clone()), "400", "{reply:.300}");
    let reply = send("/x".into(), vec![("x-big".into(), "b".repeat(k16))])
        .await
        .unwrap();
    assert_eq!(status(reply.clone()), "400", "{reply:.300}");
    let many = (0..5)
        .map(|i| (format!("x-h{i}"), "m".repeat(15 * 1024)))
        .collect();
    let reply = send("/x".into(), many).await.unwrap();
    assert_eq!(status(reply.clone()), "400", "{reply:.300}");
    // The refusal is named in the request's access-log line.
    let line = proxy.access_log_line("over the ALB's limits");
    assert_eq!(line["status"], 400);
}

#[tokio::test]
async fn an_origin_request_hook_in_front_of_a_function_target_adds_no_second_forwarding() {
    // The ALB event carries the ALB's X-Forwarded-For (the viewer, once) and no Via from the
    // origin events' view: the endpoint answers 200 only for that event.
    let addr = invoke_endpoint(|request| {
        let once = request.contains("\"x-forwarded-for\":\"127.0.0.1\"");
        let via = request.contains("\"via\"");
        Some(if once && !via {
            r#"{"statusCode": 200, "body": "one hop"}"#
        } else {
            r#"{"statusCode": 418, "body": "unexpected event"}"#
        })
    })
    .await;
    let proxy = Proxy::start(&format!(
        "[functions.probe]\nmodule = \"{}\"\n\n[origins.api]\ntype = \"function\"\ninvoke-url = \"http://{addr}/invocations\"\n\n\
         [default-behavior]\norigin = \"api\"\n[default-behavior.hooks]\norigin-request = {{ function = \"probe\" }}\n",
        guests::FIXTURE_PROBE
    ));
    let resp = client().get(proxy.url("/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.stderr());
    assert_eq!(resp.text().await.unwrap(), "one hop");
}
