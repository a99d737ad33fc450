//! The admin listener: `/healthz` for load balancers and orchestrators, `/metrics` for
//! Prometheus, `/cost` (the functions' use priced as Lambda and Lambda@Edge), `POST
//! /cache/purge` and `POST /reload` for operators, and `/queues/NAME` to read, empty and
//! redrive the named queues (destination records, dead letters). It is a separate listener
//! so viewers can never reach it.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde::Deserialize;

use crate::cache::{EdgeCache, PurgeScope};
use crate::node::Node;
use crate::observe::{cost, Metrics};
use crate::queue::EventQueue;

/// Largest purge request body read.
const MAX_PURGE_BODY: usize = 64 * 1024;

/// Serves the admin endpoints.
pub struct AdminApp {
    metrics: Arc<Metrics>,
    cache: EdgeCache,
    node: Arc<Node>,
    events: Option<Arc<EventQueue>>,
}

/// `POST /cache/purge` body: CloudFront's invalidation paths, for one host or all.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    /// Only objects cached for this host; every host when absent.
    host: Option<String>,
    /// Exact paths, or prefixes ending in `*` (`/img/*`, `/*`).
    paths: Vec<String>,
}

impl AdminApp {
    /// An admin app reporting `metrics`, purging `cache`, reloading `node` and serving the
    /// named queues of `events`; the tokens are those of the configuration in service.
    pub fn new(
        metrics: Arc<Metrics>,
        cache: EdgeCache,
        node: Arc<Node>,
        events: Option<Arc<EventQueue>>,
    ) -> Self {
        AdminApp {
            metrics,
            cache,
            node,
            events,
        }
    }

    /// `/queues/NAME`: `GET` lists messages (`?after=ID&limit=N`, oldest first), `DELETE`
    /// removes them up to `?through=ID`, `POST /queues/NAME/redrive` queues its dead letters'
    /// events again. Behind `admin.token`.
    async fn queues(&self, session: &mut ServerSession, path: &str) -> (StatusCode, String) {
        let token = self.node.current().config.admin.token.clone();
        if let Err(refusal) = authorize(session, token.as_deref(), "admin.token") {
            return refusal;
        }
        let error =
            |status, message: String| (status, serde_json::json!({ "error": message }).to_string());
        let Some(queue) = &self.events else {
            return error(
                StatusCode::NOT_FOUND,
                "no event queue: no origin has invocation = \"event\"".into(),
            );
        };
        let (name, redrive) = match path.strip_suffix("/redrive") {
            Some(name) => (name, true),
            None => (path, false),
        };
        if !crate::config::is_queue_name(name) {
            return error(StatusCode::NOT_FOUND, format!("no queue named \"{name}\""));
        }
        let query = session.req_header().uri.query().unwrap_or("").to_string();
        let number = |key: &str, default: i64| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == key)
                .map_or(Ok(default), |(_, v)| {
                    v.parse::<i64>()
                        .map_err(|_| format!("{key}: \"{v}\" is not a number"))
                })
        };
        let method = session.req_header().method.clone();
        let answer = match (&method, redrive) {
            (&Method::POST, true) => queue
                .redrive(name)
                .await
                .map(|n| serde_json::json!({ "redriven": n })),
            (&Method::GET, false) => {
                let (after, limit) = match (number("after", 0), number("limit", 100)) {
                    (Ok(a), Ok(l)) => (a, l.clamp(1, 1000) as usize),
                    (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
                };
                queue.messages(name, after, limit).await.map(|messages| {
                    let messages: Vec<_> = messages
                        .iter()
                        .map(|m| {
                            serde_json::json!({
                                "id": m.id,
                                "sentTimestamp": m.sent_ms,
                                "body": serde_json::from_slice::<serde_json::Value>(&m.body)
                                    .unwrap_or_else(|_| String::from_utf8_lossy(&m.body).into()),
                            })
                        })
                        .collect();
                    serde_json::json!({ "queue": name, "messages": messages })
                })
            }
            (&Method::DELETE, false) => {
                let through = match number("through", -1) {
                    Ok(n) if n >= 0 => n,
                    Ok(_) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "give ?through=ID: the last message to delete".into(),
                        )
                    }
                    Err(e) => return error(StatusCode::BAD_REQUEST, e),
                };
                queue
                    .delete_messages(name, through)
                    .await
                    .map(|n| serde_json::json!({ "deleted": n }))
            }
            _ => {
                return error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "GET or DELETE /queues/NAME, POST /queues/NAME/redrive".into(),
                )
            }
        };
        match answer {
            Ok(v) => (StatusCode::OK, v.to_string()),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }

    /// `/healthz`: serving, with the configuration in service and the process id (which a
    /// binary upgrade signals).
    fn health(&self) -> String {
        let generation = self.node.current();
        format!(
            "ok\ngeneration: {}\nconfig: {}\npid: {}\n",
            generation.number,
            generation.hash,
            std::process::id()
        )
    }

    async fn purge(&self, session: &mut ServerSession) -> (StatusCode, String) {
        let token = self.node.current().config.cache.purge_token.clone();
        if let Err(refusal) = authorize(session, token.as_deref(), "cache.purge-token") {
            return refusal;
        }
        let mut body = BytesMut::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_PURGE_BODY => {
                    body.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => {
                    return (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "{\"error\":\"purge request body over 64 KiB\"}".into(),
                    )
                }
                Ok(None) => break,
                Err(e) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({ "error": format!("reading body: {e}") }).to_string(),
                    )
                }
            }
        }
        let request: PurgeRequest =
            match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => return (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({
                        "error": format!("expected {{\"host\"?: string, \"paths\": [string]}}: {e}")
                    })
                    .to_string(),
                ),
            };
        if let Some(bad) = request.paths.iter().find(|p| !p.starts_with('/')) {
            return (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": format!("path \"{bad}\" does not start with '/'") })
                    .to_string(),
            );
        }
        let host = request.host.as_deref().map(str::to_ascii_lowercase);
        let purged: usize = request
            .paths
            .iter()
            .map(|p| {
                let scope = match p.strip_suffix('*') {
                    Some(prefix) => PurgeScope::Prefix(prefix.to_string()),
                    None => PurgeScope::Path(p.clone()),
                };
                self.cache.store.purge_matching(host.as_deref(), &scope)
            })
            .sum();
        tracing::info!(host = ?host, paths = ?request.paths, purged, "cache purge");
        (
            StatusCode::OK,
            serde_json::json!({ "purged": purged }).to_string(),
        )
    }

    /// `POST /reload`: the same reload as SIGHUP; the answer says what changed, or why nothing did.
    async fn reload(&self, session: &mut ServerSession) -> (StatusCode, String) {
        let token = self.node.current().config.admin.token.clone();
        if let Err(refusal) = authorize(session, token.as_deref(), "admin.token") {
            return refusal;
        }
        let node = self.node.clone();
        match tokio::task::spawn_blocking(move || node.reload()).await {
            Ok(Ok(r)) => (
                StatusCode::OK,
                serde_json::json!({
                    "generation": r.generation,
                    "hash": r.hash,
                    "kept": r.kept,
                    "loaded": r.loaded,
                })
                .to_string(),
            ),
            Ok(Err(e)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({ "error": e.to_string() }).to_string(),
            ),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "error": format!("reload failed: {e}") }).to_string(),
            ),
        }
    }
}

/// Checks the request's bearer token against `token` (the setting named `key`); the refusal
/// to send otherwise.
fn authorize(
    session: &ServerSession,
    token: Option<&str>,
    key: &str,
) -> Result<(), (StatusCode, String)> {
    let Some(token) = token else {
        return Err((
            StatusCode::FORBIDDEN,
            serde_json::json!({ "error": format!("this API is off: set {key}") }).to_string(),
        ));
    };
    let presented = session
        .req_header()
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "{\"error\":\"a valid bearer token is required\"}".into(),
        ))
    }
}

/// Compares in time that depends on neither token: both are hashed to fixed-size digests
/// first (so not even the length leaks), and the digests compared without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(a).ct_eq(&Sha256::digest(b)).into()
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let method = session.req_header().method.clone();
        let (status, content_type, body) = match (path.as_str(), &method) {
            ("/healthz", _) => (StatusCode::OK, "text/plain", self.health().into_bytes()),
            ("/metrics", _) => {
                self.metrics.observe_store(self.cache.store);
                if let Some(queue) = &self.events {
                    match queue.stats().await {
                        Ok(stats) => self.metrics.events.observe_queue(&stats),
                        Err(e) => tracing::error!(error = %e, "event queue: no statistics"),
                    }
                }
                self.metrics
                    .observe_hook_memory(self.node.current().hooks.budgets().memory());
                (
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.metrics.render(),
                )
            }
            ("/cost", _) => {
                let query = session.req_header().uri.query().unwrap_or("");
                match cost::Prices::from_query(query) {
                    Ok(prices) => (
                        StatusCode::OK,
                        "application/json",
                        cost::report(&self.metrics.billing(), &prices)
                            .to_string()
                            .into_bytes(),
                    ),
                    Err(e) => (
                        StatusCode::BAD_REQUEST,
                        "application/json",
                        serde_json::json!({ "error": e }).to_string().into_bytes(),
                    ),
                }
            }
            ("/cache/purge", &Method::POST) => {
                let (status, body) = self.purge(session).await;
                (status, "application/json", body.into_bytes())
            }
            ("/reload", &Method::POST) => {
                let (status, body) = self.reload(session).await;
                (status, "application/json", body.into_bytes())
            }
            ("/cache/purge" | "/reload", _) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                b"use POST\n".to_vec(),
            ),
            (p, _) if p.starts_with("/queues/") => {
                let name = p["/queues/".len()..].to_string();
                let (status, body) = self.queues(session, &name).await;
                (status, "application/json", body.into_bytes())
            }
            _ => (StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
        };
        let mut response = Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("content-length", body.len());
        if status == StatusCode::UNAUTHORIZED {
            response = response.header("www-authenticate", "Bearer realm=\"edge-proxy admin\"");
        }
        response
            .body(body)
            .expect("static response parts are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison_needs_every_byte() {
        assert!(constant_time_eq(b"secret-token-123", b"secret-token-123"));
        assert!(!constant_time_eq(b"secret-token-124", b"secret-token-123"));
        assert!(!constant_time_eq(b"secret", b"secret-token-123"));
    }
}
