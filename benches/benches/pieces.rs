//! The hot pieces around a hook or a cached request, each on its own: the Lambda@Edge event's
//! JSON form, the ALB translation both ways, and the cache key and storability decisions.
//!
//! Run: `cargo bench -p edge-benches --bench pieces`. Numbers and machine: `benches/README.md`.

/// The proxy's allocator, so allocation costs are the ones the proxy pays.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use criterion::{criterion_group, criterion_main, Criterion};
use edge_event::CfEvent;
use edge_proxy::cache::{key, policy};
use edge_proxy::config::{CachePolicy, KeyItems};
use edge_proxy::lambda::{
    request_event, response_from_result, HttpRequestParts, Payload, TargetGroupSettings,
};
use pingora::http::ResponseHeader;

const VIEWER_REQUEST: &str = include_str!("../../tests/vectors/cf-viewer-request.json");
const ALB_RESULT: &str = include_str!("../../tests/vectors/alb-response-lambda-docs.json");

fn event_json(c: &mut Criterion) {
    c.bench_function("cf-event/parse-aws-json", |b| {
        b.iter(|| CfEvent::from_aws_json(std::hint::black_box(VIEWER_REQUEST)).unwrap())
    });
    let event = CfEvent::from_aws_json(VIEWER_REQUEST).unwrap();
    c.bench_function("cf-event/to-aws-json", |b| b.iter(|| event.to_aws_json()));
}

fn alb(c: &mut Criterion) {
    let req = HttpRequestParts {
        method: "GET".into(),
        path: "/api/hello".into(),
        query: "a=1&a=2&b=x".into(),
        headers: vec![
            ("host".into(), "example.com".into()),
            ("user-agent".into(), "curl/8.0".into()),
            ("accept".into(), "*/*".into()),
            ("cookie".into(), "a=1; b=2".into()),
        ],
        body: bytes::Bytes::new(),
        client_ip: Some("203.0.113.9".into()),
        port: 80,
        proto: "http",
    };
    for (name, multi) in [("single-value", false), ("multi-value", true)] {
        let settings = TargetGroupSettings {
            target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0"
                .into(),
            multi_value_headers: multi,
            payload: Payload::Alb,
        };
        c.bench_function(&format!("alb/request-event/{name}"), |b| {
            b.iter(|| request_event(&req, &settings, "req-1").unwrap())
        });
        if !multi {
            // AWS's sample result uses `headers`, which an ALB reads only without multi-value.
            c.bench_function("alb/response-from-result", |b| {
                b.iter(|| response_from_result(ALB_RESULT.as_bytes(), &settings).unwrap())
            });
        }
    }
}

fn cache(c: &mut Criterion) {
    let mut headers = http::HeaderMap::new();
    headers.insert("accept-language", "en-GB".parse().unwrap());
    headers.insert("cookie", "session=abc; tier=gold".parse().unwrap());
    let host_path = CachePolicy::default();
    let allow_lists = CachePolicy {
        query_strings: KeyItems::Only(vec!["w".into(), "h".into()]),
        headers: KeyItems::Only(vec!["accept-language".into()]),
        cookies: KeyItems::Only(vec!["tier".into()]),
        ..CachePolicy::default()
    };
    for (name, policy) in [("host-path", &host_path), ("allow-lists", &allow_lists)] {
        c.bench_function(&format!("cache/key/{name}"), |b| {
            b.iter(|| {
                let primary = key::primary_key(
                    policy,
                    "https",
                    "www.example.com",
                    "/img/photo.jpg",
                    Some("w=100&utm_source=x&h=50"),
                    &headers,
                );
                pingora::cache::CacheKey::new(primary, "")
            })
        });
    }
    let mut resp = ResponseHeader::build(200, None).unwrap();
    resp.append_header(
        "cache-control",
        "public, max-age=300, stale-while-revalidate=30",
    )
    .unwrap();
    resp.append_header("content-type", "image/jpeg").unwrap();
    resp.append_header("content-length", "1024").unwrap();
    c.bench_function("cache/response-cacheable", |b| {
        b.iter(|| policy::response_cacheable(&host_path, &resp))
    });
}

criterion_group!(benches, event_json, alb, cache);
criterion_main!(benches);
