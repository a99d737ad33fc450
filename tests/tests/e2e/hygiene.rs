//! Request framing and loop rules, and the headers a CDN adds on the way to the origin.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{
    client, closed_by_server, raw_exchange, raw_exchange_off_runtime, read_until_close, Origin,
    Proxy,
};

async fn proxied(extra: &str) -> (Origin, Proxy) {
    let origin = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "{extra}\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[default-behavior]\norigin = \"o\"\n",
        origin.addr
    ));
    (origin, proxy)
}

fn status_of(reply: &str) -> &str {
    reply.split_whitespace().nth(1).unwrap_or("")
}

/// The head of the response to `GET target` (Host `a`) on a fresh connection, as sent, each
/// line ending in CRLF: what a client that reads header case sees.
async fn response_head(addr: std::net::SocketAddr, target: &str) -> String {
    let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let reply = raw_exchange_off_runtime(addr, request, Duration::from_secs(10)).await;
    format!("{}\r\n", reply.split("\r\n\r\n").next().unwrap_or_default())
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_and_closes() {
    let (origin, proxy) = proxied("").await;
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let reply = read_until_close(&mut s);
    assert_eq!(status_of(&reply), "400", "{reply}");
    assert!(reply.to_ascii_lowercase().contains("connection: close"));
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn conflicting_content_lengths_are_400_and_close() {
    let (origin, proxy) = proxied("").await;
    let reply = raw_exchange(
        proxy.addr,
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&reply), "400", "{reply}");
    assert_eq!(origin.hits(), 0);
}

/// Equal values listed in one Content-Length (`3, 3`, `3,3`) or on two lines pass Pingora's
/// parser and would reach the origin as sent: refused with 400 before that, connection closed.
#[tokio::test]
async fn a_content_length_that_is_not_one_number_is_400_and_never_reaches_the_origin() {
    let (origin, proxy) = proxied("").await;
    for framing in [
        "Content-Length: 3, 3",
        "Content-Length: 3,3",
        "Content-Length: 3\r\nContent-Length: 3",
    ] {
        let request = format!("POST /x HTTP/1.1\r\nHost: a\r\n{framing}\r\n\r\nabc");
        let reply = raw_exchange_off_runtime(proxy.addr, request, Duration::from_secs(5)).await;
        assert_eq!(status_of(&reply), "400", "{framing:?}: {reply}");
        assert!(
            reply.to_ascii_lowercase().contains("connection: close"),
            "{framing:?}: {reply}"
        );
    }
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn header_block_over_32_kib_is_431() {
    let (origin, proxy) = proxied("").await;
    let big = "x".repeat(33 * 1024);
    let reply = raw_exchange(
        proxy.addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n").as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&reply), "431", "{reply}");
    assert_eq!(origin.hits(), 0);
    // Just under the limit is fine.
    let ok = client()
        .get(proxy.url("/"))
        .header("x-big", "y".repeat(30 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn request_line_and_header_line_limits_are_the_configured_ones() {
    let (origin, proxy) =
        proxied("[limits]\nmax-request-line-bytes = 1024\nmax-request-header-line-bytes = 2048\n")
            .await;
    let addr = proxy.addr;
    let send = |head: String| raw_exchange_off_runtime(addr, head, Duration::from_secs(5));
    let line = |len: usize| format!("/{}", "p".repeat(len));
    // "GET " + target + " HTTP/1.1" is 13 bytes more than the target.
    let reply = send(format!(
        "GET {} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        line(1011 - 1)
    ))
    .await;
    assert_eq!(status_of(&reply), "200", "{reply:.200}");
    let reply = send(format!("GET {} HTTP/1.1\r\nHost: a\r\n\r\n", line(1011))).await;
    assert_eq!(status_of(&reply), "414", "{reply:.200}");
    // "X-Big: " is 7 bytes.
    let header = |len: usize| format!("X-Big: {}", "h".repeat(len - 7));
    let reply = send(format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\nConnection: close\r\n\r\n",
        header(2048)
    ))
    .await;
    assert_eq!(status_of(&reply), "200", "{reply:.200}");
    let reply = send(format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n\r\n",
        header(2049)
    ))
    .await;
    assert_eq!(status_of(&reply), "431", "{reply:.200}");
    assert_eq!(origin.hits(), 2);
}

#[tokio::test]
async fn header_block_trickled_past_the_deadline_is_408() {
    let (origin, proxy) = proxied("[limits]\nrequest-header-timeout-ms = 400\n").await;
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    let started = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    // Each byte arrives well within any per-read timeout; the whole block never completes in time.
    let mut reply = String::new();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    for _ in 0..30 {
        if s.write_all(b"X").is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) => break,
            Ok(n) => reply.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
        if !reply.is_empty() {
            break;
        }
    }
    assert_eq!(status_of(&reply), "408", "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(closed_by_server(&mut s, Duration::from_secs(2)));
    assert_eq!(origin.hits(), 0);

    // A prompt request on a fresh connection is unaffected, and so is a kept-alive one.
    let c = client();
    for _ in 0..2 {
        assert_eq!(c.get(proxy.url("/")).send().await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}

/// On a kept-alive connection each request's header block has its own deadline: requests that
/// keep coming promptly are never cut by an earlier request's, and a header trickled after
/// them gets 408 when its own runs out, long before the idle timeout would close the
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kept_alive_requests_header_has_its_own_deadline() {
    let (_origin, proxy) =
        proxied("[limits]\nrequest-header-timeout-ms = 400\nidle-timeout-ms = 20000\n").await;
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Eight requests 150 ms apart: 1.2 s on one connection, three header deadlines' worth.
    for _ in 0..8 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), "200");
        std::thread::sleep(Duration::from_millis(150));
    }
    let started = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut reply = String::new();
    while reply.is_empty() && started.elapsed() < Duration::from_secs(10) {
        if s.write_all(b"X").is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(n) = std::io::Read::read(&mut s, &mut buf) {
            reply.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert_eq!(status_of(&reply), "408", "{reply:?}");
    let late = started.elapsed();
    assert!(late < Duration::from_secs(3), "408 after {late:?}");
}

#[tokio::test]
async fn forwarding_headers_via_cdn_loop_and_request_id_reach_the_origin() {
    let (origin, proxy) = proxied("[node]\nname = \"edge-test\"\n").await;
    let resp = client()
        .get(proxy.url("/f?q=1"))
        .header("host", "shop.example")
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-edge-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(resp.headers()["via"], "1.1 edge-test");
    let seen = origin.last();
    assert_eq!(seen.uri, "/f?q=1");
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "shop.example");
    assert_eq!(seen.headers["via"], "1.1 edge-test");
    assert_eq!(seen.headers["cdn-loop"], "edge-test");
    assert_eq!(seen.headers["x-edge-request-id"], id);
}

#[tokio::test]
async fn via_and_x_cache_on_a_response_are_written_as_cloudfront_writes_them() {
    let (_origin, proxy) = proxied("[node]\nname = \"edge-test\"\n").await;
    let head = response_head(proxy.addr, "/c").await;
    assert_eq!(status_of(&head), "200", "{head}");
    for line in [
        "\r\nVia: 1.1 edge-test\r\n",
        "\r\nX-Cache: Miss from edge-proxy\r\n",
    ] {
        assert!(head.contains(line), "{line:?} in {head}");
    }
}

#[tokio::test]
async fn request_that_already_passed_this_node_is_508() {
    let (origin, proxy) = proxied("[node]\nname = \"edge-test\"\n").await;
    let looped = client()
        .get(proxy.url("/"))
        .header("cdn-loop", "other-cdn, edge-test; v=1")
        .send()
        .await
        .unwrap();
    assert_eq!(looped.status(), 508);
    assert_eq!(origin.hits(), 0);
    let other = client()
        .get(proxy.url("/"))
        .header("cdn-loop", "other-cdn")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(origin.last().headers["cdn-loop"], "other-cdn, edge-test");
}

/// An origin that answers every request `200 ok` and keeps the heads it read, as sent.
async fn head_keeping_origin() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let kept = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut head = Vec::new();
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = s.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        head.extend_from_slice(&buf[..n]);
                    }
                    kept.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    head.clear();
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn every_line_the_node_writes_itself_is_titled_on_the_wire() {
    let (addr, heads) = head_keeping_origin().await;
    let proxy = Proxy::start(&format!(
        "[node]\nname = \"edge-test\"\n\n[origins.o]\ntype = \"http\"\nservers = [\"{addr}\"]\n\n[default-behavior]\norigin = \"o\"\n"
    ));
    let head = response_head(proxy.addr, "/c").await;
    assert_eq!(status_of(&head), "200", "{head}");
    assert!(head.contains("\r\nX-Edge-Request-Id: "), "{head}");
    let to_origin = heads.lock().unwrap().first().cloned().unwrap_or_default();
    for line in [
        "\r\nX-Forwarded-For: 127.0.0.1\r\n",
        "\r\nVia: 1.1 edge-test\r\n",
        "\r\nX-Forwarded-Proto: http\r\n",
        "\r\nX-Forwarded-Host: a\r\n",
        "\r\nCDN-Loop: edge-test\r\n",
        "\r\nX-Edge-Request-Id: ",
    ] {
        assert!(to_origin.contains(line), "{line:?} in {to_origin}");
    }

    // A response the node makes itself: an origin nobody answers on.
    let down = Proxy::start(&format!(
        "[origins.o]\ntype = \"http\"\nservers = [\"127.0.0.1:{}\"]\n\n[default-behavior]\norigin = \"o\"\n",
        crate::support::free_port()
    ));
    let head = response_head(down.addr, "/").await;
    assert_eq!(status_of(&head), "502", "{head}");
    for name in ["Content-Type", "Content-Length", "X-Edge-Request-Id"] {
        assert!(head.contains(&format!("\r\n{name}: ")), "{name} in {head}");
    }
}
