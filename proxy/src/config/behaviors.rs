//! `[[behaviors]]` and `[default-behavior]`: which origin, hooks and cache policy a request
//! gets, by host and path pattern, in order.

use std::collections::BTreeMap;

use toml::Spanned;

use super::cache::cache_policy;
use super::error::IssueSink;
use super::model::{Association, Behavior, Hooks, Origin};
use super::pattern::Pattern;
use super::raw::{self, RawConfig, RawHooks};
use edge_event::EventType;

/// The behaviors in order, the default behavior last.
pub(super) fn behaviors(
    raw: &RawConfig,
    origins: &BTreeMap<String, Origin>,
    sink: &mut IssueSink,
) -> Vec<Behavior> {
    let mut behaviors = Vec::new();
    let check_origin = |origin: &Spanned<String>, key: String, sink: &mut IssueSink| {
        if !origins.contains_key(origin.get_ref()) {
            sink.at(
                Some(origin.span()),
                key,
                format!("unknown origin \"{}\"", origin.get_ref()),
            );
        }
    };
    for (i, b) in raw.behaviors.iter().enumerate() {
        let key = format!("behaviors[{i}]");
        check_origin(&b.origin, format!("{key}.origin"), sink);
        let path = b.path.get_ref();
        if !(path.starts_with('/') || path.starts_with('*')) {
            sink.at(
                Some(b.path.span()),
                format!("{key}.path"),
                "a path pattern starts with '/' or '*'",
            );
        }
        behaviors.push(Behavior {
            name: path.clone(),
            host: b.host.as_ref().map(|h| Pattern::host(h.get_ref())),
            path: Pattern::path(path),
            origin: b.origin.get_ref().clone(),
            hooks: hooks(b.hooks.as_ref(), &key, &raw.functions, sink),
            cache: b
                .cache
                .as_ref()
                .and_then(|c| cache_policy(c.get_ref(), &format!("{key}.cache"), sink)),
        });
    }
    match &raw.default_behavior {
        Some(d) => {
            check_origin(&d.get_ref().origin, "default-behavior.origin".into(), sink);
            behaviors.push(Behavior {
                name: "*".into(),
                host: None,
                path: Pattern::path("*"),
                origin: d.get_ref().origin.get_ref().clone(),
                hooks: hooks(
                    d.get_ref().hooks.as_ref(),
                    "default-behavior",
                    &raw.functions,
                    sink,
                ),
                cache: d
                    .get_ref()
                    .cache
                    .as_ref()
                    .and_then(|c| cache_policy(c.get_ref(), "default-behavior.cache", sink)),
            });
        }
        None => sink.at(
            None,
            "default-behavior",
            "a [default-behavior] with an origin is required",
        ),
    }
    behaviors
}

fn hooks(
    raw: Option<&RawHooks>,
    key: &str,
    functions: &BTreeMap<String, raw::RawFunction>,
    sink: &mut IssueSink,
) -> Hooks {
    let mut out = Hooks::default();
    let Some(raw) = raw else { return out };
    let each = [
        (EventType::ViewerRequest, &raw.viewer_request),
        (EventType::OriginRequest, &raw.origin_request),
        (EventType::OriginResponse, &raw.origin_response),
        (EventType::ViewerResponse, &raw.viewer_response),
    ];
    for (event, assoc) in each {
        let Some(a) = assoc else { continue };
        let akey = format!("{key}.hooks.{event}");
        if !functions.contains_key(a.function.get_ref()) {
            sink.at(
                Some(a.function.span()),
                format!("{akey}.function"),
                format!("unknown function \"{}\"", a.function.get_ref()),
            );
        }
        let include_body = a.include_body.as_ref().is_some_and(|b| *b.get_ref());
        if include_body && !event.is_request() {
            sink.at(
                a.include_body.as_ref().map(|b| b.span()),
                format!("{akey}.include-body"),
                "only viewer-request and origin-request functions can see the request body",
            );
        }
        out.associations[event as usize] = Some(Association {
            function: a.function.get_ref().clone(),
            include_body,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;

    #[test]
    fn behaviors_keep_file_order_and_the_default_comes_last() {
        let config = parse_with(
            "[[behaviors]]\npath = \"/a/*\"\norigin = \"site\"\n[[behaviors]]\npath = \"*.png\"\norigin = \"site\"\n",
        )
        .expect("valid");
        let names: Vec<&str> = config.behaviors.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["/a/*", "*.png", "*"]);
        assert_eq!(config.behavior_for("h", "/a/x.png").name, "/a/*");
        assert_eq!(config.behavior_for("h", "/b/x.png").name, "*.png");
        assert_eq!(config.behavior_for("h", "/b/x").name, "*");
    }
}
