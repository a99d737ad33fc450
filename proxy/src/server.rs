//! Turns a validated [`Config`] into a running Pingora server: the viewer listeners, the admin
//! listener and the local-origin server, around the [`Node`] that holds the configuration.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::AdminApp;
use crate::async_invoke::Dispatcher;
use crate::cache::EdgeCache;
use crate::config::Config;
use crate::edge::{EdgeProxy, LocalOriginServer, LocalOrigins};
use crate::listen::{ConnectionLimits, ViewerApp};
use crate::node::{Drain, Node};
use crate::observe::Metrics;
use crate::queue::EventQueue;

/// The write buffer in front of each viewer connection. Pingora's default is one segment
/// (1,460 bytes): a response whose header and body together pass it goes out in two writes, the
/// header flushed first, so a 1 KiB body under 450 bytes of headers cost a second `sendto` (on
/// the benchmark box ~10 µs of system time a request, more than the hooks that added the
/// headers). 4 KiB sends such a response in one write, as nginx's `writev` does. A body of known
/// length is held until it fills the buffer or ends, so the buffer stays small: a slow origin's
/// bytes reach the viewer at most 4 KiB behind (chunked bodies are flushed per chunk).
const VIEWER_WRITE_BUFFER: usize = 4096;

/// How the process was asked to start.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartMode {
    /// Take the listening sockets from the running process (binary upgrade) instead of binding.
    pub upgrade: bool,
}

/// Builds the server for `config`, loaded from `conf`. Every listener address is bound once
/// first (unless upgrading, when the running process holds them), so a busy or forbidden port
/// is reported plainly instead of failing inside a service thread. With `watch`, the node
/// reloads whenever the file or a module changes.
pub fn build(conf: &Path, config: Config, mode: StartMode, watch: bool) -> anyhow::Result<Server> {
    if !mode.upgrade {
        for address in config
            .listeners
            .iter()
            .map(|l| l.address)
            .chain([config.admin.address])
        {
            std::net::TcpListener::bind(address)
                .with_context(|| format!("cannot listen on {address}"))?;
        }
    }

    let grace = config.node.shutdown_grace;
    let server_conf = ServerConf {
        threads: config.node.worker_threads,
        // Requests in flight get the grace period (whole seconds here; the drain ends the
        // process once none has been left for 100 ms); the runtimes are then stopped.
        grace_period_seconds: Some(grace.as_millis().div_ceil(1000) as u64),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: config.node.upgrade_socket.to_string_lossy().into_owned(),
        ..ServerConf::default()
    };
    let opt = pingora::server::configuration::Opt {
        upgrade: mode.upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), server_conf);
    server.bootstrap();

    let metrics = Arc::new(Metrics::new());
    let limits = config.limits.clone();
    let listeners = config.listeners.clone();
    let admin_address = config.admin.address;
    let node = Arc::new(Node::start(conf, config, metrics.clone())?);
    node.reload_on_sighup()
        .context("installing the SIGHUP handler")?;
    if watch {
        crate::node::watch(node.clone());
    }
    let cache = EdgeCache::new(&node.current().config.cache);
    let events = open_event_queue(&node.current().config)?;
    let realtime = events
        .clone()
        .map(|queue| crate::realtime_logs::start(node.clone(), queue, metrics.clone()));
    let local =
        Arc::new(LocalOrigins::new().context("creating the local-origin socket directory")?);
    let mut proxy = pingora::proxy::http_proxy(
        &server.configuration,
        EdgeProxy::new(
            node.clone(),
            metrics.clone(),
            cache,
            local.clone(),
            events.clone(),
            realtime.as_ref().map(|(sink, _)| sink.clone()),
        ),
    );
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(limits.max_request_header_bytes as u32);
    proxy.h2_options = Some(h2);
    let mut options = pingora::apps::HttpServerOptions::default();
    options.h2_idle_timeout = Some(limits.idle_timeout);
    proxy.server_options = Some(options);
    let app = ViewerApp::new(
        proxy,
        ConnectionLimits {
            header_timeout: limits.request_header_timeout,
            idle_timeout: limits.idle_timeout,
            max_connections: limits.max_connections,
        },
        metrics.clone(),
    );
    let mut edge = Service::new("edge".to_string(), app);
    for listener in &listeners {
        let address = listener.address.to_string();
        let endpoint = ListenerConfig::tcp(&address)
            .l4_buffer(L4BufferSettings::default().write(VIEWER_WRITE_BUFFER));
        match &listener.tls {
            None => edge.add_listener(endpoint),
            Some(tls) => {
                let cert = tls.cert.to_string_lossy();
                let key = tls.key.to_string_lossy();
                let mut settings = TlsSettings::intermediate(&cert, &key).map_err(|e| {
                    anyhow::anyhow!("listener {address}: loading {cert} and {key}: {e}")
                })?;
                if tls.http2 {
                    settings.enable_h2();
                }
                edge.add_listener(endpoint.tls(settings));
            }
        }
    }
    server.add_service(edge);

    let app = pingora::proxy::http_proxy(
        &server.configuration,
        LocalOriginServer::new(local.clone(), node.clone()),
    );
    let mut service = Service::new("local-origin".to_string(), app);
    service.add_uds(
        &local.socket().to_string_lossy(),
        Some(std::fs::Permissions::from_mode(0o600)),
    );
    node.serve_until_exit(service);

    let concurrency = node.current().config.queue.concurrency;
    if let Some(queue) = events.as_ref().filter(|_| concurrency > 0) {
        let dispatcher = Dispatcher::new(node.clone(), queue.clone(), metrics.clone(), concurrency);
        server.add_service(background_service("event dispatcher", dispatcher));
    }
    if let Some((_, service)) = realtime {
        server.add_service(background_service("real-time logs", service));
    }
    let mut admin = Service::new(
        "admin".to_string(),
        AdminApp::new(metrics.clone(), cache, node, events),
    );
    admin.add_tcp(&admin_address.to_string());
    server.add_service(admin);
    Drain { grace, metrics }.follow(server.watch_execution_phase());
    Ok(server)
}

/// Opens the event queue when an origin invokes its function asynchronously; events left in
/// flight by the previous process are logged (they run again: at least once).
fn open_event_queue(config: &Config) -> anyhow::Result<Option<Arc<EventQueue>>> {
    if !config.uses_queue() {
        return Ok(None);
    }
    let (queue, recovered) = crate::queue::open(&config.queue)?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "event queue: events in flight when the previous process stopped will run again"
        );
    }
    tracing::info!(at = %queue.location(), "event queue open");
    Ok(Some(queue))
}
