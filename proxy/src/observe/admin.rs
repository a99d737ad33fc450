//! The admin listener: `/healthz` for load balancers and orchestrators, `/metrics` for
//! Prometheus. It is a separate listener so viewers can never reach it.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use super::Metrics;

/// Serves the admin endpoints.
pub struct AdminApp {
    metrics: Arc<Metrics>,
}

impl AdminApp {
    /// An admin app reporting `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        AdminApp { metrics }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let (status, content_type, body) = match path.as_str() {
            "/healthz" => (StatusCode::OK, "text/plain", b"ok\n".to_vec()),
            "/metrics" => (
                StatusCode::OK,
                "text/plain; version=0.0.4",
                self.metrics.render(),
            ),
            _ => (StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
        };
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("content-length", body.len())
            .body(body)
            .expect("static response parts are valid")
    }
}
