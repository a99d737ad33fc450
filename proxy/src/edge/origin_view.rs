//! The request as the origin events show it: `request.origin` in AWS's shape, and the headers
//! CloudFront adds on the way to the origin (`X-Forwarded-For`, `Via`, the origin's `Host`).
//!
//! Those headers are shown over the session's request ([`AsSent`]) and put on it only when an
//! origin-request function changes the request: a function that lets the request through (and
//! an origin-response event without one) costs no copy of the request, and the viewer's request
//! stays the session's for viewer-response.
//!
//! A configured origin is shown as its generation made it once (`custom` for an
//! `http` origin, `s3` for a `files` one). An origin-request function that returns the origin
//! as shown keeps the request on the configured origin, with its servers, balancing and health
//! checks; one that changes a field sends the request where the fields say, as CloudFront
//! re-routes it.

use std::sync::Arc;

use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::{ErrorType::InvalidHTTPHeader, OrErr, Result};

use super::context::RequestContext;
use super::forwarding::{self, OriginLine};
use crate::hooks::{LentHeaders, RequestField};
use crate::origins::OriginHandle;
use edge_event::{CfOrigin, HeaderLine, HeaderList};

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

/// What CloudFront adds to `req` before origin-request, in the order it adds them:
/// `X-Forwarded-For` and `Via` extended, and the origin's `Host` when it sets one. A function
/// target group gets none: it adds the ALB's own forwarding headers to its event. Put on the
/// session's request once a function changed it ([`add_origin_headers`]); until then shown
/// over it ([`AsSent`]).
pub fn origin_headers(req: &RequestHeader, ctx: &RequestContext) -> Result<Vec<OriginLine>> {
    let origin = ctx
        .custom_origin
        .is_none()
        .then(|| ctx.origin_handle())
        .flatten();
    if let Some(OriginHandle::Function(_)) = origin {
        return Ok(Vec::new());
    }
    let mut lines = Vec::with_capacity(3);
    if let Some(value) = forwarding::forwarded_for(req, &ctx.viewer) {
        lines.push(OriginLine {
            name: "x-forwarded-for",
            key: "X-Forwarded-For",
            value,
        });
    }
    lines.push(OriginLine {
        name: "via",
        key: "Via",
        value: forwarding::via(req, &ctx.generation.node_headers),
    });
    if let Some(OriginHandle::Http(upstream)) = origin {
        if let Some(host) = &upstream.config().host_header {
            let value = HeaderValue::from_str(host)
                .or_err(InvalidHTTPHeader, "the origin's host-header")?;
            lines.push(OriginLine {
                name: "host",
                key: "Host",
                value,
            });
        }
    }
    Ok(lines)
}

/// [`origin_headers`] of the session's request `req` as the origin events show them over it:
/// made by the first, kept in `ctx` for the next (nothing between them changes what they are
/// made of: the request, the viewer, the origin).
pub fn shown_lines(req: &RequestHeader, ctx: &mut RequestContext) -> Result<Arc<[OriginLine]>> {
    if let Some(lines) = &ctx.origin_lines {
        return Ok(lines.clone());
    }
    let lines: Arc<[OriginLine]> = origin_headers(req, ctx)?.into();
    ctx.origin_lines = Some(lines.clone());
    Ok(lines)
}

/// Puts the origin's headers on the session's request `req` (an origin-request function
/// changed it: its changes are made over them): the lines it was shown ([`shown_lines`]).
pub fn add_origin_headers(req: &mut RequestHeader, ctx: &mut RequestContext) -> Result<()> {
    let lines = shown_lines(req, ctx)?;
    ctx.origin_lines = None;
    for line in lines.iter() {
        req.insert_header(line.key, line.value.clone())?;
    }
    Ok(())
}

/// Puts on `upstream` (the copy sent to the origin) the `X-Forwarded-For` and `Via` an origin
/// event was shown over the session's request, rather than making them again; the origin's
/// `Host` is left to `upstream.rs`, which puts it on every request to that origin. Whether there
/// were any: none when no origin event ran before the request went out.
pub fn put_shown_lines(upstream: &mut RequestHeader, ctx: &RequestContext) -> Result<bool> {
    let Some(lines) = &ctx.origin_lines else {
        return Ok(false);
    };
    for line in lines.iter().filter(|l| l.name != "host") {
        upstream.insert_header(line.key, line.value.clone())?;
    }
    Ok(true)
}

/// The request as origin events show it while the origin's headers are not on the session's
/// request (no origin-request function changed it): the session's request, lent, with
/// [`origin_headers`] over it. Nothing is copied: a hook that reads nothing costs nothing for
/// it, and one that reads a line of them reads it here.
#[derive(Debug)]
pub struct AsSent {
    request: Arc<dyn LentHeaders>,
    lines: Arc<[OriginLine]>,
}

impl AsSent {
    /// `request` (lent) with `lines` over it, each replacing the request's lines of its name
    /// where the first of them is, or added after the last line: as putting them on it would.
    pub fn new(request: Arc<dyn LentHeaders>, lines: Arc<[OriginLine]>) -> Self {
        AsSent { request, lines }
    }

    fn line(&self, name: &str) -> Option<&OriginLine> {
        self.lines
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }
}

fn header_line(line: &OriginLine) -> HeaderLine {
    let value = String::from_utf8_lossy(line.value.as_bytes()).into_owned();
    HeaderLine::new(line.name.to_string(), line.key.to_string(), value)
}

impl LentHeaders for AsSent {
    fn visible_lines(&self) -> HeaderList {
        let mut list = self.request.visible_lines();
        for line in self.lines.iter() {
            list.replace(header_line(line));
        }
        list
    }

    fn first(&self, name: &str) -> Option<String> {
        match self.line(name) {
            Some(line) => Some(String::from_utf8_lossy(line.value.as_bytes()).into_owned()),
            None => self.request.first(name),
        }
    }

    fn named(&self, name: &str) -> HeaderList {
        let Some(line) = self.line(name) else {
            return self.request.named(name);
        };
        let mut list = HeaderList::new();
        list.push(header_line(line));
        list
    }

    fn line_count(&self) -> usize {
        let replaced: usize = self
            .lines
            .iter()
            .map(|l| self.request.named(l.name).len())
            .sum();
        self.request.line_count() - replaced + self.lines.len()
    }

    fn request_field(&self, field: RequestField) -> Option<String> {
        self.request.request_field(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::event_wire::LentHeader;

    fn line(name: &'static str, key: &'static str, value: &'static str) -> OriginLine {
        OriginLine {
            name,
            key,
            value: HeaderValue::from_static(value),
        }
    }

    /// Requests of every shape the origin's lines meet: without the names, with one line, with
    /// several lines in another case, with lines hooks never see around them.
    fn requests() -> Vec<RequestHeader> {
        let shapes: [&[(&str, &str)]; 4] = [
            &[("Host", "example.com")],
            &[
                ("host", "example.com"),
                ("X-Forwarded-For", "10.0.0.1"),
                ("accept", "*/*"),
            ],
            &[
                ("x-forwarded-for", "10.0.0.1"),
                ("Via", "1.1 a"),
                ("connection", "keep-alive"),
                ("X-FORWARDED-FOR", "10.0.0.2"),
                ("HOST", "example.com"),
                ("via", "2 b"),
            ],
            &[("connection", "close"), ("user-agent", "curl")],
        ];
        shapes
            .iter()
            .map(|lines| {
                let mut req = RequestHeader::build("GET", b"/p?q=1", None).unwrap();
                for (k, v) in *lines {
                    req.append_header(k.to_string(), *v).unwrap();
                }
                req
            })
            .collect()
    }

    #[test]
    fn the_request_as_sent_reads_as_the_request_with_the_origins_lines_put_on_it() {
        let lines = vec![
            line("x-forwarded-for", "X-Forwarded-For", "10.0.0.1, 192.0.2.7"),
            line("via", "Via", "1.1 a, 1.1 edge-proxy"),
            line("host", "Host", "origin.example"),
        ];
        for req in requests() {
            let mut put_on = req.clone();
            for l in &lines {
                put_on.insert_header(l.key, l.value.clone()).unwrap();
            }
            let expected: Arc<dyn LentHeaders> = LentHeader::new(put_on);
            let view = AsSent::new(LentHeader::new(req.clone()), lines.clone().into());
            let shown = format!("{:?}", req.headers);
            assert_eq!(view.visible_lines(), expected.visible_lines(), "{shown}");
            assert_eq!(view.line_count(), expected.line_count(), "{shown}");
            for name in [
                "x-forwarded-for",
                "via",
                "host",
                "accept",
                "connection",
                "absent",
            ] {
                assert_eq!(view.named(name), expected.named(name), "{name} of {shown}");
                let upper = name.to_ascii_uppercase();
                assert_eq!(
                    view.first(&upper),
                    expected.first(&upper),
                    "{name} of {shown}"
                );
            }
            for field in [
                RequestField::Method,
                RequestField::Uri,
                RequestField::Querystring,
            ] {
                assert_eq!(view.request_field(field), expected.request_field(field));
            }
        }
    }

    #[test]
    fn without_lines_the_request_as_sent_is_the_request() {
        for req in requests() {
            let expected: Arc<dyn LentHeaders> = LentHeader::new(req.clone());
            let view = AsSent::new(LentHeader::new(req), Arc::new([]));
            assert_eq!(view.visible_lines(), expected.visible_lines());
            assert_eq!(view.line_count(), expected.line_count());
        }
    }
}
