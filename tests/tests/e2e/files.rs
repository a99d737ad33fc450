//! The `files` origin behaves like an S3 bucket origin and never serves outside its root.

use std::path::Path;
use std::time::Duration;

use crate::support::{client, raw_exchange, Proxy};

fn bucket() -> Proxy {
    Proxy::start_with(
        "[origins.bucket]\ntype = \"files\"\nroot = \"site\"\nindex = \"index.html\"\n\n[default-behavior]\norigin = \"bucket\"\n",
        |dir: &Path| {
            let site = dir.join("site");
            std::fs::create_dir_all(site.join("docs/empty")).unwrap();
            std::fs::write(site.join("index.html"), "<h1>home</h1>").unwrap();
            std::fs::write(site.join("style.css"), "body{}").unwrap();
            std::fs::write(site.join("data.json"), "{\"a\":1}").unwrap();
            std::fs::write(site.join("blob.bin"), [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
            std::fs::write(site.join("docs/guide.txt"), "0123456789abcdef").unwrap();
            std::fs::write(site.join("with space.txt"), "spaced").unwrap();
            std::fs::write(dir.join("secret.txt"), "TOP SECRET").unwrap();
            std::os::unix::fs::symlink(dir.join("secret.txt"), site.join("leak.txt")).unwrap();
            std::os::unix::fs::symlink(site.join("style.css"), site.join("alias.css")).unwrap();
        },
    )
}

#[tokio::test]
async fn content_type_follows_the_extension() {
    let proxy = bucket();
    for (path, ty) in [
        ("/style.css", "text/css"),
        ("/data.json", "application/json"),
        ("/blob.bin", "application/octet-stream"),
        ("/docs/guide.txt", "text/plain"),
        ("/", "text/html"),
    ] {
        let resp = client().get(proxy.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], ty, "{path}");
    }
    let resp = client()
        .get(proxy.url("/with%20space.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "spaced");
}

#[tokio::test]
async fn etag_and_last_modified_answer_conditional_gets_with_304() {
    let proxy = bucket();
    let first = client().get(proxy.url("/style.css")).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();

    let by_etag = client()
        .get(proxy.url("/style.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(by_etag.status(), 304);
    assert_eq!(by_etag.headers()["etag"].to_str().unwrap(), etag);
    assert!(by_etag.bytes().await.unwrap().is_empty());

    let by_date = client()
        .get(proxy.url("/style.css"))
        .header("if-modified-since", &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(by_date.status(), 304);

    let other = client()
        .get(proxy.url("/style.css"))
        .header("if-none-match", "\"nope\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    let failed = client()
        .get(proxy.url("/style.css"))
        .header("if-match", "\"nope\"")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 412);
}

#[tokio::test]
async fn range_requests_get_206_or_416() {
    let proxy = bucket();
    let get = |range: &'static str| {
        client()
            .get(proxy.url("/docs/guide.txt"))
            .header("range", range)
            .send()
    };
    let part = get("bytes=2-5").await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 2-5/16");
    assert_eq!(part.text().await.unwrap(), "2345");

    let suffix = get("bytes=-3").await.unwrap();
    assert_eq!(suffix.status(), 206);
    assert_eq!(suffix.text().await.unwrap(), "def");

    let open = get("bytes=14-").await.unwrap();
    assert_eq!(open.text().await.unwrap(), "ef");

    let beyond = get("bytes=100-200").await.unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], "bytes */16");
}

#[tokio::test]
async fn head_has_headers_but_no_body_and_other_methods_are_refused() {
    let proxy = bucket();
    let head = client()
        .head(proxy.url("/docs/guide.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "16");
    assert!(head.bytes().await.unwrap().is_empty());

    let post = client()
        .post(proxy.url("/docs/guide.txt"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn missing_keys_and_directories_are_404_without_listing() {
    let proxy = bucket();
    for path in ["/nope.txt", "/docs", "/docs/empty/", "/docs/empty"] {
        let resp = client().get(proxy.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("NoSuchKey"), "{path}: {body}");
        assert!(!body.contains("guide.txt"), "{path} listed a directory");
    }
}

#[tokio::test]
async fn traversal_attempts_never_leave_the_root() {
    let proxy = bucket();
    for target in [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/docs/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%5csecret.txt",
        "/leak.txt",
    ] {
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let reply = raw_exchange(proxy.addr, request.as_bytes(), Duration::from_secs(5));
        assert!(
            !reply.contains("TOP SECRET"),
            "{target} escaped the root: {reply}"
        );
        let status = reply.split_whitespace().nth(1).unwrap_or("");
        assert!(status.starts_with('4'), "{target}: {reply}");
    }
    // A symlink that stays inside the root is followed.
    let inside = client().get(proxy.url("/alias.css")).send().await.unwrap();
    assert_eq!(inside.text().await.unwrap(), "body{}");
}
