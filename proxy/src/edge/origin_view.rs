//! The request as the origin events show it: `request.origin` in AWS's shape, and the headers
//! CloudFront adds on the way to the origin (`X-Forwarded-For`, `Via`, the origin's `Host`).
//!
//! A configured `http` origin is shown as `origin.custom` (its first server's host and port,
//! protocol, timeouts), a `files` origin as `origin.s3` (it serves a directory the way a bucket
//! does). An origin-request function that returns the origin as shown keeps the request on the
//! configured origin, with its servers, balancing and health checks; one that changes a field
//! sends the request where the fields say, as CloudFront re-routes it.

use pingora::http::RequestHeader;
use pingora::Result;

use super::context::RequestContext;
use super::forwarding;
use crate::config::HttpOrigin;
use crate::origins::OriginHandle;
use edge_event::{CfOrigin, CustomOrigin, HeaderList, S3Origin};

/// The request's origin as CloudFront shows it to origin events.
pub fn presented(ctx: &RequestContext) -> CfOrigin {
    if let Some(custom) = &ctx.custom_origin {
        return CfOrigin::Custom(custom.clone());
    }
    match ctx.generation.origins.get(&ctx.origin) {
        Some(OriginHandle::Http(upstream)) => CfOrigin::Custom(custom_of(upstream.config())),
        Some(OriginHandle::Files(_)) => CfOrigin::S3(S3Origin {
            auth_method: "none".into(),
            custom_headers: HeaderList::new(),
            domain_name: ctx.origin.clone(),
            path: String::new(),
            region: String::new(),
        }),
        // A function target group has no CloudFront counterpart: by name.
        _ => CfOrigin::Named(ctx.origin.clone()),
    }
}

/// `origin.custom` for a configured `http` origin: where its first server is.
fn custom_of(origin: &HttpOrigin) -> CustomOrigin {
    let server = origin.servers.first().map(String::as_str).unwrap_or("");
    let (host, port) = match server.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(0)),
        None => (server, if origin.tls { 443 } else { 80 }),
    };
    let seconds = |d: std::time::Duration| d.as_secs().max(1).min(u64::from(u32::MAX)) as u32;
    CustomOrigin {
        domain_name: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        protocol: if origin.tls { "https" } else { "http" }.into(),
        path: String::new(),
        read_timeout: seconds(origin.read_timeout),
        keepalive_timeout: seconds(origin.idle_timeout),
        custom_headers: HeaderList::new(),
        ssl_protocols: vec!["TLSv1.2".into()],
    }
}

/// Acts on the origin an origin-request function returned: the one shown keeps the configured
/// origin, `named` picks another configured one, `custom` and `s3` go where their fields say
/// (an S3 bucket over HTTPS on port 443). Errs with the reason when a named origin is unknown.
pub fn follow(
    ctx: &mut RequestContext,
    returned: CfOrigin,
    shown: &CfOrigin,
) -> std::result::Result<(), String> {
    if &returned == shown {
        return Ok(());
    }
    match returned {
        CfOrigin::Named(name) => {
            if !ctx.generation.origins.contains_key(&name) {
                return Err(format!("origin \"{name}\" is not configured"));
            }
            ctx.origin = name;
            ctx.custom_origin = None;
        }
        CfOrigin::Custom(custom) => ctx.custom_origin = Some(custom),
        CfOrigin::S3(s3) => ctx.custom_origin = Some(s3.as_custom()),
    }
    Ok(())
}

/// Puts on `req` what CloudFront adds before origin-request runs: `X-Forwarded-For`, `Via` and,
/// when the origin sets one, its `Host`. Done on the session's request when an origin-request
/// function runs (so it sees them and may change them), else on the copy sent upstream. A
/// function target group gets none: it adds the ALB's own forwarding headers to its event.
pub fn add_origin_headers(req: &mut RequestHeader, ctx: &RequestContext) -> Result<()> {
    let function_target = ctx.custom_origin.is_none()
        && matches!(
            ctx.generation.origins.get(&ctx.origin),
            Some(OriginHandle::Function(_))
        );
    if function_target {
        return Ok(());
    }
    forwarding::add_origin_facing(req, &ctx.viewer, &ctx.generation.node_headers)?;
    if ctx.custom_origin.is_none() {
        if let Some(OriginHandle::Http(upstream)) = ctx.generation.origins.get(&ctx.origin) {
            if let Some(host) = &upstream.config().host_header {
                req.insert_header("Host", host)?;
            }
        }
    }
    Ok(())
}

/// The request as origin-response shows it when no origin-request function put the origin's
/// headers on it: a copy with them added.
pub fn as_sent(req: &RequestHeader, ctx: &RequestContext) -> Result<RequestHeader> {
    let mut copy = req.clone();
    add_origin_headers(&mut copy, ctx)?;
    Ok(copy)
}
