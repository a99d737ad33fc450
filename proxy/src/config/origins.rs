//! `[origins.NAME]`: `http` server pools, `files` directories and `function` target groups,
//! each type with its own keys.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::IssueSink;
use super::model::{
    Balance, FilesOrigin, FunctionOrigin, FunctionTarget, HealthCheck, HealthCheckKind, HttpOrigin,
    Origin,
};
use super::queue::event_key_spans;
use super::raw::{RawFunction, RawOrigin};
use super::values::in_range;
use crate::lambda::Payload;

/// The origins, by name.
pub(super) fn origins(
    raw: &BTreeMap<String, RawOrigin>,
    base: &Path,
    sink: &mut IssueSink,
) -> BTreeMap<String, Origin> {
    let mut origins = BTreeMap::new();
    for (name, o) in raw {
        let key = format!("origins.{name}");
        let Some(origin) = origin(o, &key, base, sink) else {
            continue;
        };
        origins.insert(name.clone(), origin);
    }
    origins
}

/// Every `function` origin with a wasm target names a configured function.
pub(super) fn check_target_groups(
    origins: &BTreeMap<String, Origin>,
    raw_origins: &BTreeMap<String, RawOrigin>,
    functions: &BTreeMap<String, RawFunction>,
    sink: &mut IssueSink,
) {
    for (name, origin) in origins {
        if let Origin::Function(FunctionOrigin {
            target: FunctionTarget::Wasm(f),
            ..
        }) = origin
        {
            if !functions.contains_key(f) {
                let span = raw_origins[name].function.as_ref().map(|s| s.span());
                sink.at(
                    span,
                    format!("origins.{name}.function"),
                    format!("unknown function \"{f}\""),
                );
            }
        }
    }
}

/// Keys each origin type accepts, beyond `type`.
const HTTP_KEYS: &[&str] = &[
    "servers",
    "tls",
    "sni",
    "verify",
    "host-header",
    "connect-timeout-ms",
    "read-timeout-ms",
    "idle-timeout-ms",
    "balance",
    "health-check",
];
const FILES_KEYS: &[&str] = &["root", "index"];
const FUNCTION_KEYS: &[&str] = &[
    "payload",
    "multi-value-headers",
    "target-group-arn",
    "timeout-ms",
    "function",
    "invoke-url",
    "invocation",
    "maximum-retry-attempts",
    "maximum-event-age-seconds",
    "retry-delays-ms",
    "on-success",
    "on-failure",
    "dead-letter",
    "function-arn",
];

/// The keys an origin of type `kind` takes beyond `type`, or `None` for an unknown type.
pub(super) fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "http" => Some(HTTP_KEYS),
        "files" => Some(FILES_KEYS),
        "function" => Some(FUNCTION_KEYS),
        _ => None,
    }
}

fn origin(o: &RawOrigin, key: &str, base: &Path, sink: &mut IssueSink) -> Option<Origin> {
    let present: [(&str, Option<std::ops::Range<usize>>); 18] = [
        ("payload", o.payload.as_ref().map(|v| v.span())),
        (
            "multi-value-headers",
            o.multi_value_headers.as_ref().map(|v| v.span()),
        ),
        (
            "target-group-arn",
            o.target_group_arn.as_ref().map(|v| v.span()),
        ),
        ("timeout-ms", o.timeout_ms.as_ref().map(|v| v.span())),
        ("function", o.function.as_ref().map(|v| v.span())),
        ("invoke-url", o.invoke_url.as_ref().map(|v| v.span())),
        ("servers", o.servers.as_ref().map(|v| v.span())),
        ("tls", o.tls.as_ref().map(|v| v.span())),
        ("sni", o.sni.as_ref().map(|v| v.span())),
        ("verify", o.verify.as_ref().map(|v| v.span())),
        ("host-header", o.host_header.as_ref().map(|v| v.span())),
        (
            "connect-timeout-ms",
            o.connect_timeout_ms.as_ref().map(|v| v.span()),
        ),
        (
            "read-timeout-ms",
            o.read_timeout_ms.as_ref().map(|v| v.span()),
        ),
        (
            "idle-timeout-ms",
            o.idle_timeout_ms.as_ref().map(|v| v.span()),
        ),
        ("balance", o.balance.as_ref().map(|v| v.span())),
        ("health-check", o.health_check.as_ref().map(|v| v.span())),
        ("root", o.root.as_ref().map(|v| v.span())),
        ("index", o.index.as_ref().map(|v| v.span())),
    ];
    let present = present.into_iter().chain(event_key_spans(o));
    let kind = o.kind.get_ref().as_str();
    let allowed = match keys_of(kind) {
        Some(keys) => keys,
        None => {
            let other = kind;
            sink.at(
                Some(o.kind.span()),
                format!("{key}.type"),
                format!(
                    "unknown origin type \"{other}\", expected \"http\", \"files\" or \"function\""
                ),
            );
            return None;
        }
    };
    for (name, span) in present {
        if let Some(span) = span.filter(|_| !allowed.contains(&name)) {
            sink.at(
                Some(span),
                format!("{key}.{name}"),
                format!("not a key of a \"{kind}\" origin"),
            );
        }
    }
    match kind {
        "http" => Some(Origin::Http(http_origin(o, key, sink))),
        "function" => function_origin(o, key, sink).map(Origin::Function),
        _ => {
            let Some(root) = &o.root else {
                sink.at(
                    Some(o.kind.span()),
                    format!("{key}.root"),
                    "a files origin needs a root directory",
                );
                return None;
            };
            let path = base.join(root.get_ref());
            if !path.is_dir() {
                sink.at(
                    Some(root.span()),
                    format!("{key}.root"),
                    format!("not a directory: {}", path.display()),
                );
            }
            Some(Origin::Files(FilesOrigin {
                root: path,
                index: o.index.as_ref().map(|i| i.get_ref().clone()),
            }))
        }
    }
}

fn function_origin(o: &RawOrigin, key: &str, sink: &mut IssueSink) -> Option<FunctionOrigin> {
    let payload = match o.payload.as_ref().map(|p| p.get_ref().as_str()) {
        None | Some("alb") => Payload::Alb,
        Some("api-gateway-v1") => Payload::ApiGatewayV1,
        Some("api-gateway-v2") => Payload::ApiGatewayV2,
        Some(other) => {
            sink.at(
                o.payload.as_ref().map(|p| p.span()),
                format!("{key}.payload"),
                format!("unknown payload \"{other}\", expected \"alb\", \"api-gateway-v1\" or \"api-gateway-v2\""),
            );
            Payload::Alb
        }
    };
    let target = match (&o.function, &o.invoke_url) {
        (Some(f), None) => FunctionTarget::Wasm(f.get_ref().clone()),
        (None, Some(u)) => {
            if !(u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://")) {
                sink.at(
                    Some(u.span()),
                    format!("{key}.invoke-url"),
                    "must be an http:// or https:// URL",
                );
            }
            FunctionTarget::InvokeUrl(u.get_ref().clone())
        }
        _ => {
            sink.at(
                Some(o.kind.span()),
                key.to_string(),
                "a function origin needs exactly one of `function` or `invoke-url`",
            );
            return None;
        }
    };
    let timeout = o
        .timeout_ms
        .as_ref()
        .and_then(|v| in_range(v, 1, 900_000, &format!("{key}.timeout-ms"), sink))
        .map(|n| Duration::from_millis(n as u64))
        .unwrap_or(Duration::from_secs(30));
    let function = match &target {
        FunctionTarget::Wasm(f) => f.as_str(),
        FunctionTarget::InvokeUrl(_) => key.trim_start_matches("origins."),
    };
    let invocation = super::queue::invocation(o, key, function, sink);
    Some(FunctionOrigin {
        target_group_arn: o
            .target_group_arn
            .as_ref()
            .map(|a| a.get_ref().clone())
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:elasticloadbalancing:local:000000000000:targetgroup/{}/edge-proxy",
                    key.trim_start_matches("origins.")
                )
            }),
        multi_value_headers: o.multi_value_headers.as_ref().is_some_and(|m| *m.get_ref()),
        timeout,
        payload,
        target,
        invocation,
    })
}

fn http_origin(h: &RawOrigin, key: &str, sink: &mut IssueSink) -> HttpOrigin {
    let servers = h
        .servers
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    let servers_span = h
        .servers
        .as_ref()
        .map(|s| s.span())
        .unwrap_or(h.kind.span());
    if servers.is_empty() {
        sink.at(
            Some(servers_span.clone()),
            format!("{key}.servers"),
            "at least one server is required",
        );
    }
    for s in &servers {
        let ok = s.rsplit_once(':').is_some_and(|(host, port)| {
            crate::host::is_valid(host.as_bytes()) && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            sink.at(
                Some(servers_span.clone()),
                format!("{key}.servers"),
                format!("\"{s}\" is not host:port"),
            );
        }
    }
    let ms = |v: &Option<Spanned<i64>>, name: &str, default: u64, sink: &mut IssueSink| {
        v.as_ref()
            .and_then(|v| in_range(v, 1, 3_600_000, &format!("{key}.{name}"), sink))
            .map(|n| Duration::from_millis(n as u64))
            .unwrap_or(Duration::from_millis(default))
    };
    let connect_timeout = ms(&h.connect_timeout_ms, "connect-timeout-ms", 10_000, sink);
    let read_timeout = ms(&h.read_timeout_ms, "read-timeout-ms", 30_000, sink);
    let idle_timeout = ms(&h.idle_timeout_ms, "idle-timeout-ms", 5_000, sink);
    let balance = match h.balance.as_ref().map(|b| b.get_ref().as_str()) {
        None | Some("round-robin") => Balance::RoundRobin,
        Some("consistent-hash") => Balance::ConsistentHash,
        Some(other) => {
            sink.at(
                h.balance.as_ref().map(|b| b.span()),
                format!("{key}.balance"),
                format!(
                    "unknown balance \"{other}\", expected \"round-robin\" or \"consistent-hash\""
                ),
            );
            Balance::RoundRobin
        }
    };
    let health_check = h.health_check.as_ref().map(|hc| {
        let hc = hc.get_ref();
        let interval = ms(&hc.interval_ms, "health-check.interval-ms", 5_000, sink);
        let kind = match hc.kind.as_ref().map(|k| k.get_ref().as_str()) {
            None | Some("tcp") => HealthCheckKind::Tcp,
            Some("http") => HealthCheckKind::Http {
                path: hc
                    .path
                    .as_ref()
                    .map(|p| p.get_ref().clone())
                    .unwrap_or_else(|| "/".into()),
            },
            Some(other) => {
                sink.at(
                    hc.kind.as_ref().map(|k| k.span()),
                    format!("{key}.health-check.kind"),
                    format!("unknown kind \"{other}\", expected \"tcp\" or \"http\""),
                );
                HealthCheckKind::Tcp
            }
        };
        if let Some(p) = &hc.path {
            if !p.get_ref().starts_with('/') {
                sink.at(
                    Some(p.span()),
                    format!("{key}.health-check.path"),
                    "must start with '/'",
                );
            }
        }
        HealthCheck { kind, interval }
    });
    if let Some(host) = &h.host_header {
        if !crate::host::is_valid(host.get_ref().as_bytes()) {
            sink.at(
                Some(host.span()),
                format!("{key}.host-header"),
                format!(
                    "{:?} is not a host (name or address, optional port)",
                    host.get_ref()
                ),
            );
        }
    }
    if let Some(sni) = &h.sni {
        let name = sni.get_ref();
        if !crate::host::is_valid(name.as_bytes()) || name.contains(':') {
            sink.at(
                Some(sni.span()),
                format!("{key}.sni"),
                format!("{name:?} is not a host name"),
            );
        }
    }
    HttpOrigin {
        servers,
        tls: h.tls.as_ref().is_some_and(|t| *t.get_ref()),
        sni: h.sni.as_ref().map(|s| s.get_ref().clone()),
        verify: h.verify.as_ref().is_none_or(|v| *v.get_ref()),
        host_header: h.host_header.as_ref().map(|s| s.get_ref().clone()),
        connect_timeout,
        read_timeout,
        idle_timeout,
        balance,
        health_check,
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;
    use super::*;

    #[test]
    fn each_origin_type_reads_its_own_keys() {
        let config = parse_with(
            "[origins.pool]\ntype = \"http\"\nservers = [\"127.0.0.1:9000\", \"127.0.0.1:9001\"]\nbalance = \"consistent-hash\"\n",
        )
        .expect("valid");
        let Some(Origin::Http(pool)) = config.origins.get("pool") else {
            panic!("an http origin");
        };
        assert_eq!(pool.servers.len(), 2);
        assert_eq!(pool.balance, Balance::ConsistentHash);
        assert!(matches!(config.origins.get("site"), Some(Origin::Files(_))));
    }
}
