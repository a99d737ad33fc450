//! Turns a validated [`Config`] into a running Pingora server: the viewer listeners, the admin
//! listener and the background services (health checks).

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use anyhow::Context;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::listening::Service;

use crate::cache::EdgeCache;
use crate::config::Config;
use crate::edge::{EdgeProxy, LocalOriginServer, LocalOrigins};
use crate::hooks::HookRegistry;
use crate::listen::{ConnectionLimits, ViewerApp};
use crate::observe::{AdminApp, Metrics};

/// Builds the server for `config`. Every listener address is bound once first, so a busy or
/// forbidden port is reported plainly instead of failing inside a service thread.
pub fn build(config: Config) -> anyhow::Result<Server> {
    for address in config
        .listeners
        .iter()
        .map(|l| l.address)
        .chain([config.admin])
    {
        std::net::TcpListener::bind(address)
            .with_context(|| format!("cannot listen on {address}"))?;
    }

    let conf = ServerConf {
        threads: config.worker_threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    let hooks = Arc::new(HookRegistry::load(&config.functions)?);
    let (origins, background) = crate::origins::build(&config, &hooks)?;
    let origins = Arc::new(origins);
    let cache = EdgeCache::new(&config.cache);
    let cached = config.behaviors.iter().any(|b| b.cache.is_some());
    let local = Arc::new(
        LocalOrigins::new(origins.clone(), cached)
            .context("creating the local-origin socket directory")?,
    );
    let mut proxy = pingora::proxy::http_proxy(
        &server.configuration,
        EdgeProxy::new(
            config.clone(),
            origins,
            metrics.clone(),
            hooks,
            cache,
            local.clone(),
        ),
    );
    let limits = &config.limits;
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
    for listener in &config.listeners {
        let address = listener.address.to_string();
        match &listener.tls {
            None => edge.add_tcp(&address),
            Some(tls) => {
                let cert = tls.cert.to_string_lossy();
                let key = tls.key.to_string_lossy();
                let mut settings = TlsSettings::intermediate(&cert, &key).map_err(|e| {
                    anyhow::anyhow!("listener {address}: loading {cert} and {key}: {e}")
                })?;
                if tls.http2 {
                    settings.enable_h2();
                }
                edge.add_tls_with_settings(&address, None, settings);
            }
        }
    }
    server.add_service(edge);

    if cached {
        let app = pingora::proxy::http_proxy(
            &server.configuration,
            LocalOriginServer::new(local.clone()),
        );
        let mut service = Service::new("local-origin".to_string(), app);
        service.add_uds(
            &local.socket().to_string_lossy(),
            Some(std::fs::Permissions::from_mode(0o600)),
        );
        server.add_service(service);
    }

    let mut admin = Service::new(
        "admin".to_string(),
        AdminApp::new(metrics, cache, config.cache.purge_token.clone()),
    );
    admin.add_tcp(&config.admin.to_string());
    server.add_service(admin);
    server.add_services(background);
    Ok(server)
}
