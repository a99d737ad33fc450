//! The request as the origin events show it: `request.origin` in AWS's shape, and the headers
//! CloudFront adds on the way to the origin (`X-Forwarded-For`, `Via`, the origin's `Host`).
//!
//! A configured origin is shown as its generation made it once (`custom` for an
//! `http` origin, `s3` for a `files` one). An origin-request function that returns the origin
//! as shown keeps the request on the configured origin, with its servers, balancing and health
//! checks; one that changes a field sends the request where the fields say, as CloudFront
//! re-routes it.

use std::sync::Arc;

use pingora::http::RequestHeader;
use pingora::Result;

use super::context::RequestContext;
use super::forwarding;
use crate::origins::OriginHandle;
use edge_event::CfOrigin;

/// The request's origin as CloudFront shows it to origin events: one a hook set (shared
/// while the request lasts), else the configured origin's, made once per generation.
pub fn presented(ctx: &RequestContext) -> Arc<CfOrigin> {
    if let Some(custom) = &ctx.custom_origin {
        return Arc::new(CfOrigin::Custom(custom.clone()));
    }
    match ctx.configured_origin() {
        Some(origin) => origin.shown.clone(),
        None => Arc::new(CfOrigin::Named(String::new())),
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
            let Some(id) = ctx.generation.origins.id(&name) else {
                return Err(format!("origin \"{name}\" is not configured"));
            };
            ctx.origin = Some(id);
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
        && matches!(ctx.origin_handle(), Some(OriginHandle::Function(_)));
    if function_target {
        return Ok(());
    }
    forwarding::add_origin_facing(req, &ctx.viewer, &ctx.generation.node_headers)?;
    if ctx.custom_origin.is_none() {
        if let Some(OriginHandle::Http(upstream)) = ctx.origin_handle() {
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
