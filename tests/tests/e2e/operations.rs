//! Operations: reload in process (SIGHUP, `POST /reload`, `edge-proxy reload`, `--watch`),
//! graceful shutdown, and the binary upgrade — none of them losing a request.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use edge_test_artifacts as guests;

use crate::support::{binary, client, send_signal, wait_exit, Origin, Proxy};

const TOKEN: &str = "reload-token-0123456789";

/// The configuration body: origin `o`, the probe on viewer-response with `PROBE_VALUE` =
/// `value`, a 5 s shutdown grace.
fn body(origin: &Origin, value: &str) -> String {
    format!(
        "[node]\nshutdown-grace-ms = 5000\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[functions.probe]\nmodule = \"{}\"\n[functions.probe.env]\nPROBE_VALUE = \"{value}\"\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-response = {{ function = \"probe\" }}\n",
        origin.addr,
        guests::FIXTURE_PROBE
    )
}

/// Rewrites the running proxy's configuration with `body` (keeping its listener and admin).
fn rewrite(proxy: &Proxy, body: &str) {
    let conf = proxy.conf();
    let text = std::fs::read_to_string(&conf).unwrap();
    let head_end = text
        .find("\n\n[node]")
        .expect("the head written by Proxy::start");
    let head = &text[..head_end];
    std::fs::write(&conf, format!("{head}\n\n{body}")).unwrap();
}

/// A proxy on `body(origin, value)` with the admin token (a key of the `[admin]` table the
/// head written by `Proxy::start` ends with).
async fn start(origin: &Origin, value: &str) -> Proxy {
    Proxy::start(&format!("token = \"{TOKEN}\"\n\n{}", body(origin, value)))
}

async fn reload(proxy: &Proxy) -> (u16, serde_json::Value) {
    let response = client()
        .post(proxy.admin_url("/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

/// `/metrics` shows generation `generation` in service and `count` reloads with `result`.
async fn assert_reloads(proxy: &Proxy, generation: u64, result: &str, count: u64) {
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains(&format!("edge_config_generation {generation}")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "edge_config_reloads_total{{result=\"{result}\"}} {count}"
        )),
        "{metrics}"
    );
}

async fn probe_env(proxy: &Proxy, path: &str) -> (String, String) {
    let r = client().get(proxy.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", proxy.stderr());
    (
        r.headers()["x-probe-env"].to_str().unwrap().to_string(),
        r.headers()["x-probe-invocations"]
            .to_str()
            .unwrap()
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_finish_on_their_configuration_and_the_next_see_the_new_one() {
    let origin = Origin::start("o").await;
    let proxy = start(&origin, "one").await;
    assert_eq!(probe_env(&proxy, "/a").await.0, "one");

    // In flight across the reload: the origin answers after 1 s, then viewer-response runs.
    let slow = tokio::spawn({
        let url = proxy.url("/slow/1");
        async move { client().get(url).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    rewrite(&proxy, &body(&origin, "two"));
    let (status, answer) = reload(&proxy).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["generation"], 2);
    assert_eq!(answer["loaded"], serde_json::json!(["probe"]));

    let slow = slow.await.unwrap();
    assert_eq!(slow.status(), 200);
    assert_eq!(
        slow.headers()["x-probe-env"],
        "one",
        "the request in flight ran the hook of the generation it started on"
    );
    assert_eq!(probe_env(&proxy, "/b").await.0, "two");
    assert_reloads(&proxy, 2, "ok", 1).await;
}

#[tokio::test]
async fn an_unchanged_function_keeps_its_warm_environment_across_a_reload() {
    let origin = Origin::start("o").await;
    let proxy = start(&origin, "one").await;
    let (_, first) = probe_env(&proxy, "/a").await;
    // Same file and modules: a SIGHUP reload carries the function over.
    proxy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.metrics().await.contains("edge_config_generation 2") {
        assert!(Instant::now() < deadline, "no reload: {}", proxy.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, second) = probe_env(&proxy, "/a").await;
    let (first, second): (u64, u64) = (first.parse().unwrap(), second.parse().unwrap());
    assert_eq!(
        second,
        first + 1,
        "the warm environment (its invocation count) survived"
    );
    let healthz = proxy.admin_text("/healthz").await;
    assert!(healthz.contains("generation: 2"), "{healthz}");
    assert!(
        proxy.stderr().contains("configuration reloaded"),
        "{}",
        proxy.stderr()
    );
}

#[tokio::test]
async fn a_bad_config_or_module_changes_nothing_and_says_why() {
    let origin = Origin::start("o").await;
    let proxy = start(&origin, "one").await;

    // A semantic error: the same file:line: key: problem as `check`.
    rewrite(
        &proxy,
        &body(&origin, "one").replace("origin = \"o\"", "origin = \"nowhere\""),
    );
    let (status, answer) = reload(&proxy).await;
    assert_eq!(status, 422);
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("edge.toml:") && error.contains("default-behavior.origin"),
        "{error}"
    );

    // A module that does not compile.
    let junk = proxy.dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").unwrap();
    rewrite(
        &proxy,
        &body(&origin, "one").replace(guests::FIXTURE_PROBE, &junk.display().to_string()),
    );
    let (status, answer) = reload(&proxy).await;
    assert_eq!(status, 422);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("function \"probe\""),
        "{answer}"
    );

    // A listener change needs a restart: refused, said plainly.
    rewrite(&proxy, &body(&origin, "one"));
    let conf = std::fs::read_to_string(proxy.conf()).unwrap();
    let moved = conf.replace(
        &format!("127.0.0.1:{}", proxy.addr.port()),
        &format!("127.0.0.1:{}", crate::support::free_port()),
    );
    std::fs::write(proxy.conf(), moved).unwrap();
    let (status, answer) = reload(&proxy).await;
    assert_eq!(status, 422);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("listeners: changed"),
        "{answer}"
    );

    // The node kept serving generation 1 throughout.
    assert_eq!(probe_env(&proxy, "/a").await.0, "one");
    assert_reloads(&proxy, 1, "error", 3).await;
    assert!(proxy.stderr().contains("reload failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reload_command_reports_success_and_failure_with_its_exit_code() {
    let origin = Origin::start("o").await;
    let proxy = start(&origin, "one").await;
    let run = |proxy: &Proxy| {
        Command::new(binary())
            .args(["reload", "--conf"])
            .arg(proxy.conf())
            .output()
            .unwrap()
    };
    rewrite(&proxy, &body(&origin, "two"));
    let ok = run(&proxy);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("generation 2"));
    assert_eq!(probe_env(&proxy, "/a").await.0, "two");

    rewrite(
        &proxy,
        &body(&origin, "two").replace("origin = \"o\"", "origin = \"nowhere\""),
    );
    let failed = run(&proxy);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("edge.toml:") && stderr.contains("default-behavior.origin"),
        "{stderr}"
    );
    assert!(stderr.contains("not reloaded"), "{stderr}");

    // Without the token the admin listener refuses.
    let anonymous = client()
        .post(proxy.admin_url("/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mode_reloads_when_the_config_changes() {
    let origin = Origin::start("o").await;
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let admin = crate::support::free_port();
    let conf = dir.path().join("edge.toml");
    let head = format!(
        "version = 1\n[[listeners]]\naddress = \"127.0.0.1:{port}\"\n[admin]\naddress = \"127.0.0.1:{admin}\"\n\n"
    );
    std::fs::write(&conf, format!("{head}{}", body(&origin, "one"))).unwrap();
    let mut child = Command::new(binary())
        .args(["run", "--watch", "--conf"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/a");
    let env_of = |url: String| async move {
        let r = client().get(url).send().await.ok()?;
        Some(r.headers().get("x-probe-env")?.to_str().ok()?.to_string())
    };
    let wait_for = |value: &'static str| {
        let url = url.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while env_of(url.clone()).await.as_deref() != Some(value) {
                assert!(Instant::now() < deadline, "never served {value}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for("one").await;
    std::fs::write(&conf, format!("{head}{}", body(&origin, "two"))).unwrap();
    wait_for("two").await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_request_finish_closes_idle_connections_and_exits_0() {
    let origin = Origin::start("o").await;
    let mut proxy = start(&origin, "one").await;
    // An idle keep-alive connection, after one request.
    let mut idle = TcpStream::connect(proxy.addr).unwrap();
    idle.write_all(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let n = std::io::Read::read(&mut idle, &mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let slow = tokio::spawn({
        let url = proxy.url("/slow/2");
        async move { client().get(url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = Instant::now();
    proxy.signal("TERM");

    // The idle connection is closed at once (end of stream), not after the grace period.
    let closed = matches!(std::io::Read::read(&mut idle, &mut buf), Ok(0));
    assert!(closed, "the idle connection was not closed");
    assert!(stopped.elapsed() < Duration::from_secs(1));
    // New connections are refused while the slow request finishes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(TcpStream::connect(proxy.addr).is_err());
    // The local-origin server (where cached misses on `files` origins are fetched) still
    // answers: requests finishing in the grace period may need it.
    let hop = std::env::temp_dir()
        .join(format!("edge-proxy-{}", proxy.pid()))
        .join("local-origin.sock");
    let mut hop = std::os::unix::net::UnixStream::connect(&hop).expect("the hop still accepts");
    hop.write_all(b"GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
        .unwrap();
    hop.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut hop, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");

    let slow = slow
        .await
        .unwrap()
        .expect("the request in flight completed");
    assert_eq!(slow.status(), 200);
    assert_eq!(slow.text().await.unwrap(), "origin o /slow/2");
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .expect("the process exited after its last request");
    assert_eq!(status.code(), Some(0), "{}", proxy.stderr());
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "it waited for the request, not the whole grace period"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_upgrade_under_load_fails_no_request() {
    let origin = Origin::start("o").await;
    let mut proxy = Proxy::start(&format!(
        "token = \"{TOKEN}\"\n\n{}",
        body(&origin, "one").replace(
            "[node]\n",
            "[node]\nupgrade-socket = \"{dir}/upgrade.sock\"\n"
        )
    ));
    let socket = proxy.dir.path().join("upgrade.sock");

    // Load: 4 clients, each request on a connection of its own, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (url, stop) = (proxy.url("/a"), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            let client = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut old = proxy.start_upgrade();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the new process never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send_signal(old.id(), "QUIT");
    let status = wait_exit(&mut old, Duration::from_secs(30)).expect("the old process exited");
    assert_eq!(status.code(), Some(0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for c in clients {
        let (o, f) = c.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert!(ok > 100, "only {ok} requests");
    let healthz = proxy.admin_text("/healthz").await;
    assert!(
        healthz.contains(&format!("pid: {}", proxy.pid())),
        "{healthz}"
    );
}

/// `edge-proxy check` on a config with one function, with the compiled-module cache at `cache`.
fn check_with_cache(dir: &std::path::Path, cache: &std::path::Path) -> (bool, String) {
    let conf = dir.join("edge.toml");
    std::fs::write(
        &conf,
        format!(
            "version = 1\n[[listeners]]\naddress = \"127.0.0.1:8080\"\n[node]\nmodule-cache = \"{}\"\n[origins.o]\ntype = \"http\"\nservers = [\"127.0.0.1:9\"]\n[functions.probe]\nmodule = \"{}\"\n[default-behavior]\norigin = \"o\"\n[default-behavior.hooks]\nviewer-request = {{ function = \"probe\" }}\n",
            cache.display(),
            guests::FIXTURE_PROBE
        ),
    )
    .unwrap();
    crate::support::run_check(&conf)
}

#[test]
fn a_compiled_artifact_is_loaded_only_when_sound_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("modules");
    let (ok, stderr) = check_with_cache(dir.path(), &cache);
    assert!(ok, "{stderr}");
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the cache directory is private");
    let artifact = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("the compiled component was stored");
    let sound = std::fs::read(&artifact).unwrap();
    let (ok, stderr) = check_with_cache(dir.path(), &cache);
    assert!(ok && !stderr.contains("module cache"), "{stderr}");

    // Damaged: ignored (never loaded), compiled again and stored sound.
    let mut damaged = sound.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&artifact, &damaged).unwrap();
    let (ok, stderr) = check_with_cache(dir.path(), &cache);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("ignoring a damaged artifact"), "{stderr}");
    assert_eq!(std::fs::read(&artifact).unwrap(), sound);

    // Writable by others: ignored.
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, stderr) = check_with_cache(dir.path(), &cache);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("writable by others"), "{stderr}");

    // A directory others may enter: the cache is off.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (ok, stderr) = check_with_cache(dir.path(), &cache);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("module cache off"), "{stderr}");
}

/// `/static/*` cached by path, and a cached default behavior whose key includes the query
/// strings `query_strings`.
fn cached_body(origin: &Origin, query_strings: &str) -> String {
    format!(
        "[node]\nname = \"n\"\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\"]\n\n[[behaviors]]\npath = \"/static/*\"\norigin = \"o\"\n[behaviors.cache]\nquery-strings = \"none\"\n\n[default-behavior]\norigin = \"o\"\n[default-behavior.cache]\nquery-strings = {query_strings}\n",
        origin.addr
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_survives_a_reload_and_a_changed_key_policy_applies_from_the_next_request() {
    let origin = Origin::start("o").await;
    let proxy = Proxy::start(&format!(
        "token = \"{TOKEN}\"\n\n{}",
        cached_body(&origin, "\"none\"")
    ));
    let x_cache = |path: &'static str| {
        let url = proxy.url(path);
        async move {
            let r = client().get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.headers()["x-cache"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(x_cache("/static/same").await, "Miss from edge-proxy");
    assert_eq!(x_cache("/page?v=1").await, "Miss from edge-proxy");
    assert_eq!(x_cache("/page?v=2").await, "Hit from edge-proxy");

    rewrite(&proxy, &cached_body(&origin, "\"all\""));
    let (status, answer) = reload(&proxy).await;
    assert_eq!(status, 200, "{answer}");

    // The stored object of the unchanged behavior is still there...
    assert_eq!(x_cache("/static/same").await, "Hit from edge-proxy");
    // ...and on the changed one the query string is now part of the key.
    assert_eq!(x_cache("/page?v=3").await, "Miss from edge-proxy");
    assert_eq!(x_cache("/page?v=3").await, "Hit from edge-proxy");
    assert_eq!(origin.hits(), 3);
}

/// A server that answers every request `500` after `delay`.
async fn failing_server(delay: Duration) -> std::net::SocketAddr {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if crate::support::read_head(&mut s).await.is_none() {
                    return;
                }
                tokio::time::sleep(delay).await;
                let _ = s
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_origin_keeps_the_health_it_learned_across_a_reload() {
    let good = Origin::start("good").await;
    // Its health check (and every request) takes 1 s to fail: an origin built anew would count
    // it healthy for that second.
    let bad = failing_server(Duration::from_secs(1)).await;
    let body = |name: &str| {
        format!(
            "[node]\nname = \"{name}\"\n\n[origins.o]\ntype = \"http\"\nservers = [\"{}\", \"{bad}\"]\n[origins.o.health-check]\nkind = \"http\"\ninterval-ms = 60000\n\n[default-behavior]\norigin = \"o\"\n",
            good.addr
        )
    };
    let proxy = Proxy::start(&format!("token = \"{TOKEN}\"\n\n{}", body("a")));
    let statuses = |n: usize| {
        let url = proxy.url("/x");
        async move {
            let mut all = Vec::new();
            for _ in 0..n {
                all.push(client().get(&url).send().await.unwrap().status().as_u16());
            }
            all
        }
    };
    // Until the first check has marked the failing server down.
    let deadline = Instant::now() + Duration::from_secs(10);
    while statuses(6).await.iter().any(|s| *s != 200) {
        assert!(
            Instant::now() < deadline,
            "the failing server was never marked down"
        );
    }
    // A reload that changes something else: the origin is carried over, health and all.
    rewrite(&proxy, &body("b"));
    let (status, answer) = reload(&proxy).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(statuses(8).await, vec![200; 8]);
}
