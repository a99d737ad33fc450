//! Shared test machinery: the real `edge-proxy` binary on free ports, small real origins, and
//! raw-socket helpers for requests an HTTP client refuses to send.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Path of the `edge-proxy` binary built next to this test binary (`make test` builds it first).
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("EDGE_PROXY_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir.join("edge-proxy");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo test --workspace --no-run` (make test does)",
        bin.display()
    );
    bin
}

/// A port nobody listens on now, and that nothing else in this test process takes before the
/// proxy binds it. A port from `bind(0)`, released, could be handed by the kernel to the next
/// `bind(0)` (another test's origin) or to another `free_port` while this test's proxy starts:
/// the proxy then retries its bind, and the test, finding the port answering, would talk to the
/// other server. So ports come from below the kernel's ephemeral range, where neither `bind(0)`
/// nor an outgoing connection takes one, and each is handed out once per process.
pub fn free_port() -> u16 {
    static HANDED_OUT: AtomicUsize = AtomicUsize::new(0);
    let (low, high) = test_port_range();
    let span = usize::from(high - low);
    // Another test process on the machine starts elsewhere in the range.
    let start = std::process::id() as usize * 7919 % span;
    loop {
        let n = HANDED_OUT.fetch_add(1, Ordering::SeqCst);
        assert!(n < span, "every test port in {low}..{high} was handed out");
        let port = low + ((start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The ports [`free_port`] hands out: the half below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`, 32768 by default).
fn test_port_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    assert!(
        ephemeral_low >= 4096,
        "the ephemeral port range starts at {ephemeral_low}: no room below it for test ports"
    );
    (ephemeral_low / 2, ephemeral_low)
}

/// A running `edge-proxy run`, killed on drop.
pub struct Proxy {
    child: Child,
    /// Folder holding the config and the process output.
    pub dir: tempfile::TempDir,
    /// The first (HTTP or HTTPS) listener.
    pub addr: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
}

impl Proxy {
    /// Starts the proxy with `body` appended to a header that sets `version`, one listener and
    /// the admin listener. `{dir}` in `body` is replaced by the config's folder.
    pub fn start(body: &str) -> Proxy {
        Self::start_with(body, |_| {})
    }

    /// Like [`Proxy::start`], letting `prepare` write files into the folder first.
    pub fn start_with(body: &str, prepare: impl FnOnce(&Path)) -> Proxy {
        Self::start_inner(body, prepare, None)
    }

    /// Like [`Proxy::start`], with stdout a pipe nobody reads (kept open while the proxy runs):
    /// a log reader that stalls.
    pub fn start_with_unread_stdout(body: &str) -> Proxy {
        Self::start_inner(body, |_| {}, Some(Stdio::piped()))
    }

    fn start_inner(body: &str, prepare: impl FnOnce(&Path), stdout: Option<Stdio>) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let port = free_port();
        let admin_port = free_port();
        let listener = if body.contains("[[listeners]]") {
            String::new()
        } else {
            format!("[[listeners]]\naddress = \"127.0.0.1:{port}\"\n")
        };
        let text = format!(
            "version = 1\n{listener}\n[admin]\naddress = \"127.0.0.1:{admin_port}\"\n\n{}",
            body.replace("{dir}", &dir.path().display().to_string())
                .replace("{port}", &port.to_string())
        );
        let conf = dir.path().join("edge.toml");
        std::fs::write(&conf, text).unwrap();
        let stdout = stdout.unwrap_or_else(|| {
            std::fs::File::create(dir.path().join("stdout.log"))
                .unwrap()
                .into()
        });
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(binary())
            .args(["run", "--conf"])
            .arg(&conf)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn edge-proxy");
        let mut proxy = Proxy {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
        };
        proxy.wait_ready();
        proxy
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("edge-proxy exited with {status}: {}", self.stderr());
            }
            if TcpStream::connect(self.addr).is_ok() && TcpStream::connect(self.admin).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("edge-proxy did not start listening: {}", self.stderr());
    }

    /// The process id of the running proxy.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The configuration file the proxy runs on.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("edge.toml")
    }

    /// Sends `signal` (a name `kill -s` takes: `HUP`, `TERM`, `QUIT`) to the proxy.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits up to `limit` for the proxy to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        wait_exit(&mut self.child, limit)
    }

    /// Binary upgrade: starts a second `edge-proxy run --upgrade` on the same configuration,
    /// which waits for this one's listening sockets. It becomes the process this `Proxy` runs
    /// (and kills on drop); the old process is returned, to be sent `QUIT` and waited on.
    pub fn start_upgrade(&mut self) -> Child {
        let stdout = std::fs::File::create(self.dir.path().join("stdout.upgraded.log")).unwrap();
        let stderr = std::fs::File::create(self.dir.path().join("stderr.upgraded.log")).unwrap();
        let child = Command::new(binary())
            .args(["run", "--upgrade", "--conf"])
            .arg(self.conf())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn edge-proxy --upgrade");
        std::mem::replace(&mut self.child, child)
    }

    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The admin listener's URL for `path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The status of `GET path` through the proxy.
    pub async fn status(&self, path: &str) -> u16 {
        client()
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The status of the admin listener's `/healthz`: 200 while the proxy serves.
    pub async fn health_status(&self) -> u16 {
        client()
            .get(self.admin_url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.admin_text("/metrics").await
    }

    /// The body of `GET path` on the admin listener.
    pub async fn admin_text(&self, path: &str) -> String {
        client()
            .get(self.admin_url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Everything the proxy wrote to stdout (the access log) so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Everything the proxy wrote to stderr (operational log) so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Waits until the access log has a line containing `needle`, and returns it parsed.
    pub fn access_log_line(&self, needle: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self.stdout().lines().find(|l| l.contains(needle)) {
                return serde_json::from_str(line).expect("access log lines are JSON");
            }
            assert!(
                Instant::now() < deadline,
                "no access log line with {needle}: {}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `edge-proxy check --conf conf`: whether it passed, and what it wrote to stderr.
pub fn run_check(conf: &Path) -> (bool, String) {
    let out = Command::new(binary())
        .args(["check", "--conf"])
        .arg(conf)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sends `signal` (a `kill -s` name) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal} {pid} failed");
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client that neither follows redirects nor uses a proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// What a test origin saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query.
    pub uri: String,
    /// Headers, names lowercased, repeated values joined by `, `.
    pub headers: HashMap<String, String>,
    /// The request body.
    pub body: Bytes,
}

/// A real HTTP/1.1 origin on a free port. It answers `200` with body `origin <name> <path>`,
/// sleeps first on `/slow/...` (`slow` seconds), and records every request. Query parameters
/// shape the response for cache tests: `cc` sets `Cache-Control`, `vary` sets `Vary`, `size`
/// pads the body to that many bytes (values percent-decoded); `x-origin-hit` numbers responses.
pub struct Origin {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests seen so far.
    pub seen: Arc<std::sync::Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Origin {
    /// Starts an origin called `name`.
    pub async fn start(name: &str) -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let name = name.to_string();
        let (seen2, hits2) = (seen.clone(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (name, seen, hits) = (name.clone(), seen2.clone(), hits2.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (name, seen, hits) = (name.clone(), seen.clone(), hits.clone());
                        async move { Ok::<_, Infallible>(answer(&name, req, &seen, &hits).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Origin {
            addr,
            seen,
            hits,
            task,
        }
    }

    /// Number of requests answered.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The last request seen.
    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("origin saw a request")
    }

    /// The body of the last request seen, as text.
    pub fn last_body(&self) -> String {
        String::from_utf8_lossy(&self.last().body).into_owned()
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    name: &str,
    req: Request<Incoming>,
    seen: &std::sync::Mutex<Vec<Seen>>,
    hits: &AtomicUsize,
) -> Response<Full<Bytes>> {
    let mut headers: HashMap<String, String> = HashMap::new();
    for (k, v) in req.headers() {
        let v = v.to_str().unwrap_or("").to_string();
        headers
            .entry(k.as_str().to_string())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v)
            })
            .or_insert(v);
    }
    let path = req.uri().path().to_string();
    let uri = req.uri().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        uri: uri.clone(),
        headers,
        body,
    });
    hits.fetch_add(1, Ordering::SeqCst);
    if let Some(rest) = path.strip_prefix("/slow/") {
        let secs: u64 = rest
            .split('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3);
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    let hit = hits.load(Ordering::SeqCst);
    let mut response = Response::builder()
        .header("content-type", "text/plain")
        .header("x-origin-hit", hit.to_string());
    let mut body = format!("origin {name} {path}").into_bytes();
    for (key, value) in query_pairs(&uri) {
        match key.as_str() {
            "cc" => response = response.header("cache-control", value),
            "vary" => response = response.header("vary", value),
            "size" => body.resize(value.parse().unwrap_or(0), b'.'),
            _ => {}
        }
    }
    response.body(Full::new(Bytes::from(body))).unwrap()
}

/// `key=value` pairs of a URI's query, values percent-decoded.
fn query_pairs(uri: &str) -> Vec<(String, String)> {
    let Some((_, query)) = uri.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Lambda Invoke API endpoint on a free port, written over a raw socket so it can answer
/// what no well-behaved function would: for each request (its text, head and body), `answer`
/// gives the result JSON to send with 200, or `None` to stay silent for 5 s.
pub async fn invoke_endpoint(answer: fn(&str) -> Option<&'static str>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                // The whole request: the head, then as many body bytes as it announces.
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 65536];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        body.len() >= length
                    });
                    if n == 0 || complete {
                        break;
                    }
                }
                let request = String::from_utf8_lossy(&buf).to_string();
                let Some(body) = answer(&request) else {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    return;
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

/// A request head read off a raw test origin's connection, up to its blank line (with any bytes
/// read past it); `None` when the connection ends first.
pub async fn read_head(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// Sends `request` as raw bytes and returns everything read until the server closes the
/// connection or `timeout` passes.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(request).unwrap();
    read_until_close(&mut stream)
}

/// [`raw_exchange`] from an async test: on a blocking thread, so the runtime's own thread stays
/// free for the in-process origin or endpoint that answers meanwhile.
pub async fn raw_exchange_off_runtime(
    addr: SocketAddr,
    request: impl Into<Vec<u8>>,
    timeout: Duration,
) -> String {
    let request = request.into();
    tokio::task::spawn_blocking(move || raw_exchange(addr, &request, timeout))
        .await
        .expect("the exchange's thread ends")
}

/// Reads until EOF or the read timeout, returning what arrived.
pub fn read_until_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server closed `stream` (a read returns EOF or reset within `wait`).
pub fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}
