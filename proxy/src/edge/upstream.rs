//! The way to the origin: which server of an `http` origin (or which custom origin a hook
//! chose) a request goes to, and the headers that say where and how, once the forwarding
//! headers are on.

use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::context::{BodySwap, LocalRoute, RequestContext};
use super::local_origin::{LOCAL_ORIGIN, LOCAL_RESPONSE};
use crate::observe::Metrics;
use crate::origins::{ConfiguredOrigin, OriginHandle};
use edge_event::CustomOrigin;

/// The server for `req`: the custom origin an origin-request hook chose, or a healthy server of
/// the request's `http` origin that has not failed this request yet (remembered in `ctx`).
pub async fn peer(
    req: &RequestHeader,
    ctx: &mut RequestContext,
    metrics: &Metrics,
) -> Result<Box<HttpPeer>> {
    if let Some(custom) = &ctx.custom_origin {
        return custom_peer(custom).await;
    }
    let Some(ConfiguredOrigin {
        name: origin,
        handle: OriginHandle::Http(upstream),
        ..
    }) = ctx.configured_origin()
    else {
        return Error::e_explain(ErrorType::InternalError, "behavior has no http origin");
    };
    let key = req.uri.path().as_bytes();
    let peer = upstream.select(key, &ctx.tried).map_err(|e| {
        metrics
            .upstream_errors
            .with_label_values(&[origin.as_str(), "no-healthy-server"])
            .inc();
        let mut err = Error::explain(ErrorType::ConnectNoRoute, e.to_string());
        err.as_up();
        err
    })?;
    if let Some(addr) = peer._address.as_inet() {
        ctx.tried.push(*addr);
    }
    Ok(peer)
}

/// What the origin request carries beyond the forwarding headers: the local-origin server's
/// selector (only the pipeline writes it), a custom origin's path prefix and headers or an
/// `http` origin's own `Host`, and the length of a body a hook replaced.
pub fn origin_request_headers(
    upstream_request: &mut RequestHeader,
    ctx: &RequestContext,
) -> Result<()> {
    // Only the pipeline names what the local-origin server serves: the viewer's copies of
    // these headers were dropped at the edge and hooks may not write `x-edge-*`; still, the
    // one set here replaces any other, and the other selector is removed.
    match ctx.local {
        Some(LocalRoute::Files) => {
            upstream_request.remove_header(LOCAL_RESPONSE);
            let route = format!("{} {}", ctx.generation.number, ctx.origin_name());
            upstream_request.insert_header(LOCAL_ORIGIN, route)?
        }
        Some(LocalRoute::Generated) => {
            upstream_request.remove_header(LOCAL_ORIGIN);
            upstream_request.insert_header(LOCAL_RESPONSE, &*ctx.request_id)?
        }
        None => {}
    }
    if let Some(custom) = &ctx.custom_origin {
        if !custom.path.is_empty() {
            let uri = format!("{}{}", custom.path, upstream_request.uri.path());
            let query = upstream_request.uri.query().unwrap_or("").to_string();
            super::event_wire::apply_uri(upstream_request, &uri, &query)?;
        }
        for line in custom.custom_headers.iter() {
            upstream_request.insert_header(line.key.clone(), line.value.as_str())?;
        }
    } else if let Some(OriginHandle::Http(upstream)) = ctx.origin_handle() {
        // Unless origin-request saw (and may have changed) this origin's Host already.
        let shown = ctx.origin_facing_for.is_some() && ctx.origin_facing_for == ctx.origin;
        if let (Some(h), false) = (&upstream.config().host_header, shown) {
            upstream_request.insert_header(http::header::HOST, h)?;
        }
    }
    if let Some(len) = ctx.request_body_swap.as_ref().and_then(BodySwap::len) {
        upstream_request.remove_header("transfer-encoding");
        upstream_request.insert_header("Content-Length", len.to_string())?;
    }
    Ok(())
}

/// A peer for a custom origin an origin-request hook chose.
async fn custom_peer(origin: &CustomOrigin) -> Result<Box<HttpPeer>> {
    let target = format!("{}:{}", origin.domain_name, origin.port);
    let addr = tokio::net::lookup_host(&target)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            let mut e = Error::explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve custom origin {target}"),
            );
            e.as_up();
            e
        })?;
    let tls = origin.protocol == "https";
    let mut peer = HttpPeer::new(
        addr,
        tls,
        if tls {
            origin.domain_name.clone()
        } else {
            String::new()
        },
    );
    peer.options.read_timeout = Some(std::time::Duration::from_secs(
        origin.read_timeout.max(1) as u64
    ));
    peer.options.idle_timeout = Some(std::time::Duration::from_secs(
        origin.keepalive_timeout.max(1) as u64,
    ));
    peer.options.connection_timeout = Some(std::time::Duration::from_secs(10));
    Ok(Box::new(peer))
}
