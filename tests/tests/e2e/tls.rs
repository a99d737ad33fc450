//! HTTPS listeners with rustls: HTTP/1.1 and HTTP/2 by ALPN.

use std::path::Path;

use crate::support::{Origin, Proxy};

fn write_cert(dir: &Path) -> Vec<u8> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    cert.cert.pem().into_bytes()
}

async fn https_proxy() -> (Origin, Proxy, Vec<u8>, u16) {
    let origin = Origin::start("o").await;
    let mut pem = Vec::new();
    let proxy = Proxy::start_with(
        &format!(
            "[[listeners]]\naddress = \"127.0.0.1:{{port}}\"\n\n[listeners.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[default-behavior]\norigin = \"o\"\n",
            origin.addr
        ),
        |dir| pem = write_cert(dir),
    );
    let port = proxy.addr.port();
    (origin, proxy, pem, port)
}

fn tls_client(pem: &[u8], http1_only: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
        .resolve("localhost", "127.0.0.1:0".parse().unwrap());
    if http1_only {
        b = b.http1_only();
    }
    b.build().unwrap()
}

#[tokio::test]
async fn https_listener_serves_http1() {
    let (origin, _proxy, pem, port) = https_proxy().await;
    let resp = tls_client(&pem, true)
        .get(format!("https://localhost:{port}/secure"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "origin o /secure");
    assert_eq!(origin.last().headers["x-forwarded-proto"], "https");
}

#[tokio::test]
async fn https_listener_offers_http2_by_alpn() {
    let (origin, _proxy, pem, port) = https_proxy().await;
    let resp = tls_client(&pem, false)
        .get(format!("https://localhost:{port}/h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "origin o /h2");
    assert_eq!(origin.last().headers["x-forwarded-host"], "localhost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_an_idle_http2_connection_and_exits_without_waiting_the_grace_period() {
    let (_origin, mut proxy, pem, port) = https_proxy().await;
    let client = tls_client(&pem, false);
    let resp = client
        .get(format!("https://localhost:{port}/h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    // The client keeps its HTTP/2 connection open, idle, as browsers do.
    let stopped = std::time::Instant::now();
    proxy.signal("TERM");
    let status = proxy
        .wait_exit(std::time::Duration::from_secs(40))
        .expect("the process exited");
    assert_eq!(status.code(), Some(0));
    assert!(
        stopped.elapsed() < std::time::Duration::from_secs(5),
        "an idle HTTP/2 connection held the shutdown for {:?}",
        stopped.elapsed()
    );
    drop(client);
}
