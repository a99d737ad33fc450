//! Event invocation (`invocation = "event"`): 202 once queued, Lambda's retries, maximum age,
//! destinations and dead letters, and no accepted event lost to a SIGKILL. Every test runs on
//! both queue stores: SQLite in a temporary directory, and a real `nats-server` with JetStream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use edge_test_artifacts as guests;

use crate::stores::Store;
use crate::support::{client, Proxy};

/// One request the endpoint got: its path, headers (lowercase) and JSON body.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    headers: HashMap<String, String>,
    body: Value,
}

/// A Lambda Invoke endpoint and a destination endpoint in one server. Under `/ok/` the
/// function answers 200; under `/fail-twice/` it fails (`X-Amz-Function-Error: Unhandled`)
/// the first two times it sees an event's request id; under `/always-fail/` always; under
/// `/slow/` it answers after 300 ms. `/destination` takes records.
struct Lambda {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Lambda {
    async fn start() -> Lambda {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let shared = calls.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let calls = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let calls = calls.clone();
                        async move { Ok::<_, Infallible>(answer(req, &calls).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Lambda { addr, calls }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The calls under `prefix` so far.
    fn calls(&self, prefix: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for the calls under `prefix`.
    async fn wait_for(
        &self,
        prefix: &str,
        what: &str,
        done: impl Fn(&[Call]) -> bool,
    ) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls(prefix);
            if done(&calls) {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {calls:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(req: Request<Incoming>, calls: &Mutex<Vec<Call>>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let request_id = request_id_of(&body);
    let seen_before = {
        let mut calls = calls.lock().unwrap();
        let before = calls
            .iter()
            .filter(|c| c.path == path && request_id_of(&c.body) == request_id)
            .count();
        calls.push(Call {
            path: path.clone(),
            headers,
            body,
        });
        before
    };
    let fail =
        path.starts_with("/always-fail/") || (path.starts_with("/fail-twice/") && seen_before < 2);
    if path.starts_with("/slow/") {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut response = Response::builder().header("content-type", "application/json");
    let body = if fail {
        response = response.header("x-amz-function-error", "Unhandled");
        r#"{"errorMessage":"boom","errorType":"Error"}"#
    } else {
        r#"{"statusCode":200,"body":"done"}"#
    };
    response.body(Full::new(Bytes::from(body))).unwrap()
}

/// The request id an event carries (`x-edge-request-id` among its headers).
fn request_id_of(event: &Value) -> Option<String> {
    event["headers"]["x-edge-request-id"]
        .as_str()
        .map(str::to_string)
}

const TOKEN: &str = "queue-admin-token-0123";

/// A proxy (admin token set) whose `/collect` is an event origin on `invoke_url`, with
/// `settings` added to the origin and `queue` to `[queue]`; its queue is in `store`.
fn proxy(invoke_url: &str, settings: &str, queue: &str, store: &Store) -> Proxy {
    Proxy::start(&format!(
        "token = \"{TOKEN}\"\n\n[queue]\n{}\n{queue}\n\n[origins.collect]\ntype = \"function\"\ninvoke-url = \"{invoke_url}\"\ninvocation = \"event\"\n{settings}\n\n[origins.site]\ntype = \"files\"\nroot = \"{{dir}}\"\n\n[[behaviors]]\npath = \"/collect\"\norigin = \"collect\"\n\n[default-behavior]\norigin = \"site\"\n",
        store.settings()
    ))
}

/// Sends one event; its request id, after checking the 202.
async fn send(proxy: &Proxy, body: &str) -> String {
    let resp = client()
        .post(proxy.url("/collect"))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["requestId"], id.as_str());
    id
}

/// The messages of named queue `name` (through the admin API).
async fn queue_messages(proxy: &Proxy, name: &str) -> Vec<Value> {
    let resp = client()
        .get(proxy.admin_url(&format!("/queues/{name}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].clone())
        .collect()
}

async fn wait_for_messages(proxy: &Proxy, name: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = queue_messages(proxy, name).await;
        if messages.len() >= n {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "queue {name}: {messages:#?}\n{}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `record` has exactly the keys of AWS's example record at every level (and the same JSON
/// types), but for `functionError`, which only failure records carry.
fn shaped_like_awss_record(record: &Value, failure: bool) {
    let example: Value = serde_json::from_str(include_str!(
        "../../vectors/lambda-async-destination-record-failure-lambda-docs.json"
    ))
    .unwrap();
    fn same_shape(a: &Value, b: &Value, at: &str, skip: &[&str]) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                let keys = |o: &serde_json::Map<String, Value>| {
                    let mut k: Vec<String> = o
                        .keys()
                        .filter(|k| !skip.contains(&k.as_str()))
                        .cloned()
                        .collect();
                    k.sort();
                    k
                };
                assert_eq!(keys(a), keys(b), "keys at {at}");
                // The payloads are the event's and the function's own: only their presence counts.
                for (k, v) in a {
                    if k != "requestPayload"
                        && k != "responsePayload"
                        && !skip.contains(&k.as_str())
                    {
                        same_shape(v, &b[k], &format!("{at}.{k}"), skip);
                    }
                }
            }
            (a, b) => assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "type at {at}: {a} vs {b}"
            ),
        }
    }
    let skip: &[&str] = if failure { &[] } else { &["functionError"] };
    same_shape(record, &example, "record", skip);
    assert_eq!(record["version"], "1.0");
    assert!(record["timestamp"].as_str().unwrap().ends_with('Z'));
}

fn metric(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

on_both_stores!(an_event_target_answers_202_and_the_function_sees_the_event);
async fn an_event_target_answers_202_and_the_function_sees_the_event(store: Store) {
    let lambda = Lambda::start().await;
    let proxy = proxy(
        &lambda.url("/ok/invocations"),
        "on-success = \"queue:done\"",
        "",
        &store,
    );
    let id = send(&proxy, "hello").await;
    let calls = lambda
        .wait_for("/ok/", "the event", |c| !c.is_empty())
        .await;
    let call = &calls[0];
    assert_eq!(call.headers["x-amz-invocation-type"], "Event");
    assert_eq!(call.body["httpMethod"], "POST");
    assert_eq!(call.body["path"], "/collect");
    assert_eq!(call.body["body"], "hello");
    assert_eq!(request_id_of(&call.body).as_deref(), Some(id.as_str()));
    let records = wait_for_messages(&proxy, "done", 1).await;
    let record = &records[0];
    shaped_like_awss_record(record, false);
    assert_eq!(record["requestContext"]["requestId"], id.as_str());
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:local:000000000000:function:collect:$LATEST"
    );
    assert_eq!(record["requestPayload"]["body"], "hello");
    assert_eq!(record["responsePayload"]["body"], "done");
    // The record is delivered before the event leaves the queue: wait for both counts.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = proxy.metrics().await;
        let accepted = metric(
            &metrics,
            "edge_async_events_accepted_total{origin=\"collect\"}",
        );
        let succeeded = metric(
            &metrics,
            "edge_async_outcomes_total{condition=\"Success\",origin=\"collect\"}",
        );
        let queued = metric(&metrics, "edge_async_queued_events");
        if (accepted, succeeded, queued) == (1.0, 1.0, 0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_stores!(
    a_function_that_fails_twice_is_invoked_three_times_and_the_success_destination_gets_the_record
);
async fn a_function_that_fails_twice_is_invoked_three_times_and_the_success_destination_gets_the_record(
    store: Store,
) {
    let lambda = Lambda::start().await;
    let proxy = proxy(
        &lambda.url("/fail-twice/invocations"),
        &format!(
            "retry-delays-ms = [100, 200]\non-success = \"{}\"",
            lambda.url("/destination")
        ),
        "",
        &store,
    );
    let id = send(&proxy, "{\"n\":1}").await;
    let records = lambda
        .wait_for("/destination", "the success record", |c| !c.is_empty())
        .await;
    let record = &records[0].body;
    shaped_like_awss_record(record, false);
    assert_eq!(record["requestContext"]["requestId"], id.as_str());
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    let attempts = lambda.calls("/fail-twice/");
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    assert!(
        attempts
            .iter()
            .all(|c| request_id_of(&c.body).as_deref() == Some(id.as_str())),
        "every attempt carries the same request id"
    );
    let metrics = proxy.metrics().await;
    assert_eq!(
        metric(&metrics, "edge_async_retries_total{origin=\"collect\"}"),
        2.0
    );
}

on_both_stores!(
    a_function_that_always_fails_ends_in_the_failure_destination_and_the_dead_letter_queue
);
async fn a_function_that_always_fails_ends_in_the_failure_destination_and_the_dead_letter_queue(
    store: Store,
) {
    let lambda = Lambda::start().await;
    let proxy = proxy(
        &lambda.url("/always-fail/invocations"),
        "retry-delays-ms = [50]\non-failure = \"queue:failures\"\ndead-letter = \"queue:dlq\"",
        "",
        &store,
    );
    let id = send(&proxy, "payload").await;
    let records = wait_for_messages(&proxy, "failures", 1).await;
    let record = &records[0];
    shaped_like_awss_record(record, true);
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorMessage"], "boom");
    let letters = wait_for_messages(&proxy, "dlq", 1).await;
    let letter = &letters[0];
    let event: Value = serde_json::from_str(letter["body"].as_str().unwrap()).unwrap();
    assert_eq!(event["body"], "payload");
    let attributes = &letter["messageAttributes"];
    assert_eq!(attributes["RequestID"]["stringValue"], id.as_str());
    assert_eq!(attributes["ErrorCode"]["stringValue"], "200");
    assert!(attributes["ErrorMessage"]["stringValue"]
        .as_str()
        .unwrap()
        .contains("boom"));
    assert_eq!(lambda.calls("/always-fail/").len(), 3);
    // Counted just after the letter is stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = proxy.metrics().await;
        if metric(
            &metrics,
            "edge_async_dead_lettered_total{origin=\"collect\"}",
        ) == 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The admin API needs its token, then redrives the dead letter: three more attempts.
    let refused = client()
        .post(proxy.admin_url("/queues/dlq/redrive"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let redriven = client()
        .post(proxy.admin_url("/queues/dlq/redrive"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let redriven: Value = serde_json::from_slice(&redriven.bytes().await.unwrap()).unwrap();
    assert_eq!(redriven["redriven"], 1);
    lambda
        .wait_for("/always-fail/", "the redriven event's attempts", |c| {
            c.len() == 6
        })
        .await;
    let again = lambda.calls("/always-fail/");
    assert_eq!(request_id_of(&again[5].body).as_deref(), Some(id.as_str()));
    wait_for_messages(&proxy, "dlq", 1).await;
}

on_both_stores!(an_event_past_its_maximum_age_ends_as_event_age_exceeded);
async fn an_event_past_its_maximum_age_ends_as_event_age_exceeded(store: Store) {
    let lambda = Lambda::start().await;
    // The first attempt fails; the retry is due after the event's maximum age.
    let proxy = proxy(
        &lambda.url("/always-fail/invocations"),
        "maximum-event-age-seconds = 1\nretry-delays-ms = [1500]\non-failure = \"queue:failures\"",
        "",
        &store,
    );
    send(&proxy, "late").await;
    let records = wait_for_messages(&proxy, "failures", 1).await;
    let record = &records[0];
    shaped_like_awss_record(record, true);
    assert_eq!(record["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(lambda.calls("/always-fail/").len(), 1);
}

on_both_stores!(events_accepted_before_a_sigkill_are_all_delivered_after_a_restart);
async fn events_accepted_before_a_sigkill_are_all_delivered_after_a_restart(store: Store) {
    let lambda = Lambda::start().await;
    let queue = "concurrency = 2";
    let mut first = proxy(&lambda.url("/slow/invocations"), "", queue, &store);
    let mut accepted = Vec::new();
    for n in 0..40 {
        accepted.push(send(&first, &format!("event {n}")).await);
    }
    // Killed with events queued and some in flight.
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).expect("killed");
    let seen_before_restart = lambda.calls("/slow/").len();
    assert!(
        seen_before_restart < accepted.len(),
        "the kill came too late to test anything: {seen_before_restart}"
    );
    let second = proxy(&lambda.url("/slow/invocations"), "", queue, &store);
    let calls = lambda
        .wait_for("/slow/", "every accepted event", |calls| {
            accepted.iter().all(|id| {
                calls
                    .iter()
                    .any(|c| request_id_of(&c.body).as_deref() == Some(id))
            })
        })
        .await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for c in &calls {
        *per_id.entry(request_id_of(&c.body).unwrap()).or_default() += 1;
    }
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    // Every duplicate the function saw is one the proxy counted as possibly so.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = second.metrics().await;
    let redelivered = metric(&metrics, "edge_async_redelivered_total{origin=\"collect\"}");
    assert!(
        duplicates as f64 <= redelivered,
        "{duplicates} duplicates seen, {redelivered} counted"
    );
    // SQLite knows at start which events were cut short, and says so.
    if matches!(store, Store::Sqlite(_)) && duplicates > 0 {
        assert!(
            second.stderr().contains("will run again"),
            "{}",
            second.stderr()
        );
    }
}

on_both_stores!(a_wasm_function_is_an_event_target_and_a_full_queue_is_503);
async fn a_wasm_function_is_an_event_target_and_a_full_queue_is_503(store: Store) {
    let proxy = Proxy::start(&format!(
        "[functions.collector]\nmodule = \"{}\"\n\n[queue]\n{}\nmax-events = 1\n\n\
         [origins.collect]\ntype = \"function\"\nfunction = \"collector\"\ninvocation = \"event\"\nretry-delays-ms = [60000]\n\n\
         [default-behavior]\norigin = \"collect\"\n",
        guests::COLLECT,
        store.settings()
    ));
    let resp = client()
        .post(proxy.url("/collect/beacon"))
        .body("clicked")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !proxy
        .stdout()
        .contains("collected POST /collect/beacon 7 bytes")
        && !proxy
            .stderr()
            .contains("collected POST /collect/beacon 7 bytes")
    {
        assert!(Instant::now() < deadline, "{}", proxy.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The event leaves the queue just after the function returns: wait for the slot to free.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&proxy.metrics().await, "edge_async_queued_events") != 0.0 {
        assert!(
            Instant::now() < deadline,
            "the first event never left the queue"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The collector fails on `fail` (kept queued for a minute's retry): the one slot is taken.
    let resp = client()
        .post(proxy.url("/collect/x"))
        .body("fail")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = client()
            .post(proxy.url("/collect/y"))
            .body("more")
            .send()
            .await
            .unwrap();
        if resp.status() == 503 {
            let body = resp.text().await.unwrap();
            assert!(body.contains("event queue is full"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "never full");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = proxy.metrics().await;
    assert!(
        metric(
            &metrics,
            "edge_async_events_refused_total{origin=\"collect\",reason=\"full\"}"
        ) >= 1.0
    );
}

/// Two nodes on one NATS stream are one queue: events the first node accepted are processed by
/// the second after the first is killed, without it ever coming back.
#[tokio::test]
async fn a_fleet_on_nats_processes_events_any_node_accepted() {
    let lambda = Lambda::start().await;
    let store = Store::nats();
    let queue = "concurrency = 1";
    let mut first = proxy(&lambda.url("/slow/invocations"), "", queue, &store);
    let second = proxy(&lambda.url("/slow/invocations"), "", queue, &store);
    let mut accepted = Vec::new();
    for n in 0..20 {
        accepted.push(send(&first, &format!("event {n}")).await);
    }
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).expect("killed");
    lambda
        .wait_for("/slow/", "every event the first node accepted", |calls| {
            accepted.iter().all(|id| {
                calls
                    .iter()
                    .any(|c| request_id_of(&c.body).as_deref() == Some(id))
            })
        })
        .await;
    let metrics = second.metrics().await;
    assert!(
        metric(
            &metrics,
            "edge_async_attempts_total{origin=\"collect\",result=\"success\"}"
        ) > 0.0,
        "the second node did part of the work: {metrics}"
    );
}

/// The queue API reads only what it understands: a bad queue name is 404, a bad number 400, a
/// method it does not take 405, a wrong token 401 — never a 5xx.
#[tokio::test]
async fn the_queue_api_refuses_what_it_cannot_read() {
    let lambda = Lambda::start().await;
    let store = Store::sqlite();
    let proxy = proxy(&lambda.url("/ok/invocations"), "", "", &store);
    for (method, path, token, status) in [
        ("GET", "/queues/", TOKEN, 404),
        ("GET", "/queues/bad%20name", TOKEN, 404),
        ("GET", "/queues/a.b", TOKEN, 404),
        ("GET", &format!("/queues/{}", "q".repeat(81)), TOKEN, 404),
        ("GET", "/queues/q?after=x", TOKEN, 400),
        ("GET", "/queues/q?limit=1e3", TOKEN, 400),
        ("GET", "/queues/q?after=99999999999999999999", TOKEN, 400),
        ("GET", "/queues/q?limit=-5&after=-3", TOKEN, 200),
        ("DELETE", "/queues/q", TOKEN, 400),
        ("DELETE", "/queues/q?through=-1", TOKEN, 400),
        ("DELETE", "/queues/q?through=7", TOKEN, 200),
        ("PUT", "/queues/q", TOKEN, 405),
        ("POST", "/queues/q", TOKEN, 405),
        ("GET", "/queues/q/redrive", TOKEN, 405),
        ("GET", "/queues/q", "wrong-token-wrong-token", 401),
        ("POST", "/queues/q/redrive", "", 401),
    ] {
        let resp = client()
            .request(method.parse().unwrap(), proxy.admin_url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{method} {path}");
    }
}
