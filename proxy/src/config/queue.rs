//! `[queue]` (the durable queue behind event invocations) and a function origin's event invoke
//! configuration (`invocation = "event"`, retries, maximum age, destinations).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::IssueSink;
use super::event_model::{Destination, EventInvokeConfig, Invocation, QueueBackend, QueueSettings};
use super::raw::{RawFunction, RawOrigin, RawQueue};
use super::values::in_range;

/// Lambda's retry delays: 1 minute before the second attempt, 2 minutes before the third.
const LAMBDA_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// `[queue]`, with `data-dir` relative to the configuration file's folder.
pub(super) fn queue_settings(
    raw: Option<&RawQueue>,
    base: &Path,
    sink: &mut IssueSink,
) -> QueueSettings {
    let mut settings = QueueSettings::default();
    let dir = raw
        .and_then(|q| q.data_dir.as_ref())
        .map(|d| d.get_ref().as_str())
        .unwrap_or("data");
    settings.backend = QueueBackend::Sqlite {
        dir: base.join(dir),
    };
    let Some(q) = raw else {
        return settings;
    };
    let nats_only = [
        ("nats-url", q.nats_url.as_ref().map(|v| v.span())),
        ("stream", q.stream.as_ref().map(|v| v.span())),
        ("ack-wait-ms", q.ack_wait_ms.as_ref().map(|v| v.span())),
    ];
    match q.backend.as_ref().map(|b| b.get_ref().as_str()) {
        None | Some("sqlite") => {
            for (name, span) in nats_only {
                if let Some(span) = span {
                    sink.at(
                        Some(span),
                        format!("queue.{name}"),
                        "only for backend = \"nats\"",
                    );
                }
            }
        }
        Some("nats") => {
            if let Some(d) = &q.data_dir {
                sink.at(
                    Some(d.span()),
                    "queue.data-dir",
                    "only for backend = \"sqlite\"",
                );
            }
            let url = q
                .nats_url
                .as_ref()
                .map(|u| u.get_ref().clone())
                .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
            if !url.starts_with("nats://") && !url.starts_with("tls://") {
                sink.at(
                    q.nats_url.as_ref().map(|u| u.span()),
                    "queue.nats-url",
                    "must be a nats:// or tls:// URL",
                );
            }
            let stream = q
                .stream
                .as_ref()
                .map(|s| s.get_ref().clone())
                .unwrap_or_else(|| "EDGE_EVENTS".into());
            let stream_ok = !stream.is_empty()
                && stream.len() <= 64
                && stream
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !stream_ok {
                sink.at(
                    q.stream.as_ref().map(|s| s.span()),
                    "queue.stream",
                    format!("stream name \"{stream}\": use 1-64 of a-z, A-Z, 0-9, '-' and '_'"),
                );
            }
            let ack_wait = q
                .ack_wait_ms
                .as_ref()
                .and_then(|v| in_range(v, 1000, 3_600_000, "queue.ack-wait-ms", sink))
                .map_or(Duration::from_secs(60), |ms| {
                    Duration::from_millis(ms as u64)
                });
            settings.backend = QueueBackend::Nats {
                url,
                stream,
                ack_wait,
            };
        }
        Some(other) => sink.at(
            q.backend.as_ref().map(|b| b.span()),
            "queue.backend",
            format!("unknown backend \"{other}\", expected \"sqlite\" or \"nats\""),
        ),
    }
    if let Some(n) = q
        .max_events
        .as_ref()
        .and_then(|v| in_range(v, 1, 1 << 40, "queue.max-events", sink))
    {
        settings.max_events = n as u64;
    }
    if let Some(n) = q
        .max_bytes
        .as_ref()
        .and_then(|v| in_range(v, 1024 * 1024, 1 << 44, "queue.max-bytes", sink))
    {
        settings.max_bytes = n as u64;
    }
    if let Some(n) = q
        .concurrency
        .as_ref()
        .and_then(|v| in_range(v, 0, 4096, "queue.concurrency", sink))
    {
        settings.concurrency = n as usize;
    }
    settings
}

/// Where each event-invocation key of a function origin was written, if it was.
pub(super) fn event_key_spans(o: &RawOrigin) -> [(&'static str, Option<Range<usize>>); 8] {
    [
        ("invocation", o.invocation.as_ref().map(|v| v.span())),
        (
            "maximum-retry-attempts",
            o.maximum_retry_attempts.as_ref().map(|v| v.span()),
        ),
        (
            "maximum-event-age-seconds",
            o.maximum_event_age_seconds.as_ref().map(|v| v.span()),
        ),
        (
            "retry-delays-ms",
            o.retry_delays_ms.as_ref().map(|v| v.span()),
        ),
        ("on-success", o.on_success.as_ref().map(|v| v.span())),
        ("on-failure", o.on_failure.as_ref().map(|v| v.span())),
        ("dead-letter", o.dead_letter.as_ref().map(|v| v.span())),
        ("function-arn", o.function_arn.as_ref().map(|v| v.span())),
    ]
}

/// A function origin's `invocation` and, for `"event"`, its event invoke configuration.
/// `name` is the origin's name, `function` the function's (for its ARN).
pub(super) fn invocation(
    o: &RawOrigin,
    key: &str,
    function: &str,
    sink: &mut IssueSink,
) -> Invocation {
    let event_keys = event_key_spans(o);
    match o.invocation.as_ref().map(|i| i.get_ref().as_str()) {
        None | Some("request-response") => {
            for (name, span) in event_keys.into_iter().skip(1) {
                if let Some(span) = span {
                    sink.at(
                        Some(span),
                        format!("{key}.{name}"),
                        "only for invocation = \"event\"",
                    );
                }
            }
            Invocation::RequestResponse
        }
        Some("event") => Invocation::Event(event_config(o, key, function, sink)),
        Some(other) => {
            sink.at(
                o.invocation.as_ref().map(|i| i.span()),
                format!("{key}.invocation"),
                format!(
                    "unknown invocation \"{other}\", expected \"request-response\" or \"event\""
                ),
            );
            Invocation::RequestResponse
        }
    }
}

fn event_config(
    o: &RawOrigin,
    key: &str,
    function: &str,
    sink: &mut IssueSink,
) -> EventInvokeConfig {
    let maximum_retry_attempts = o
        .maximum_retry_attempts
        .as_ref()
        .and_then(|v| in_range(v, 0, 2, &format!("{key}.maximum-retry-attempts"), sink))
        .unwrap_or(2) as u32;
    let maximum_event_age = o
        .maximum_event_age_seconds
        .as_ref()
        .and_then(|v| {
            in_range(
                v,
                1,
                21_600,
                &format!("{key}.maximum-event-age-seconds"),
                sink,
            )
        })
        .map(|s| Duration::from_secs(s as u64))
        .unwrap_or(Duration::from_secs(21_600));
    let retry_delays = match &o.retry_delays_ms {
        None => LAMBDA_RETRY_DELAYS.to_vec(),
        Some(list) => {
            let k = format!("{key}.retry-delays-ms");
            if list.get_ref().is_empty() {
                sink.at(Some(list.span()), &k, "give at least one delay");
            }
            list.get_ref()
                .iter()
                .filter_map(|ms| {
                    in_range(&Spanned::new(list.span(), *ms), 0, 3_600_000, &k, sink)
                        .map(|ms| Duration::from_millis(ms as u64))
                })
                .collect()
        }
    };
    let destination = |v: &Option<Spanned<String>>, name: &str, sink: &mut IssueSink| {
        v.as_ref()
            .and_then(|d| parse_destination(d, &format!("{key}.{name}"), sink))
    };
    EventInvokeConfig {
        maximum_retry_attempts,
        maximum_event_age,
        retry_delays,
        on_success: destination(&o.on_success, "on-success", sink),
        on_failure: destination(&o.on_failure, "on-failure", sink),
        dead_letter: destination(&o.dead_letter, "dead-letter", sink),
        function_arn: o
            .function_arn
            .as_ref()
            .map(|a| a.get_ref().clone())
            .unwrap_or_else(|| {
                format!("arn:aws:lambda:local:000000000000:function:{function}:$LATEST")
            }),
    }
}

/// `function:NAME`, `queue:NAME` or an `http://` / `https://` URL.
pub(super) fn parse_destination(
    v: &Spanned<String>,
    key: &str,
    sink: &mut IssueSink,
) -> Option<Destination> {
    let text = v.get_ref();
    let destination = if let Some(name) = text.strip_prefix("function:") {
        Destination::Function(name.to_string())
    } else if let Some(name) = text.strip_prefix("queue:") {
        if !is_queue_name(name) {
            sink.at(
                Some(v.span()),
                key,
                format!("queue name \"{name}\": use 1-80 of a-z, A-Z, 0-9, '-' and '_'"),
            );
            return None;
        }
        if name.starts_with('_') {
            sink.at(
                Some(v.span()),
                key,
                format!("queue name \"{name}\": names starting with '_' are the node's own"),
            );
            return None;
        }
        Destination::Queue(name.to_string())
    } else if text.starts_with("http://") || text.starts_with("https://") {
        Destination::Url(text.clone())
    } else {
        sink.at(
            Some(v.span()),
            key,
            format!("\"{text}\": expected \"function:NAME\", \"queue:NAME\" or an http(s):// URL"),
        );
        return None;
    };
    Some(destination)
}

/// A named queue's name, as SQS allows them (so one can move there unchanged).
pub fn is_queue_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Every destination naming a function names a configured one.
pub(super) fn check_destinations(
    raw_origins: &BTreeMap<String, RawOrigin>,
    functions: &BTreeMap<String, RawFunction>,
    sink: &mut IssueSink,
) {
    for (name, o) in raw_origins {
        for (field, value) in [
            ("on-success", &o.on_success),
            ("on-failure", &o.on_failure),
            ("dead-letter", &o.dead_letter),
        ] {
            let Some(v) = value else { continue };
            if let Some(f) = v.get_ref().strip_prefix("function:") {
                if !functions.contains_key(f) {
                    sink.at(
                        Some(v.span()),
                        format!("origins.{name}.{field}"),
                        format!("unknown function \"{f}\""),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_with, Origin};
    use super::*;

    /// A function whose module path exists (this file), so only the origin's settings are checked.
    const FUNCTION: &str = "[functions.f]\nmodule = \"src/config/queue.rs\"\n";

    #[test]
    fn an_event_origin_takes_lambdas_defaults() {
        let config = parse_with(&format!(
            "[origins.collect]\ntype = \"function\"\nfunction = \"f\"\ninvocation = \"event\"\n{FUNCTION}"
        ))
        .expect("valid");
        let Some(Origin::Function(f)) = config.origins.get("collect") else {
            panic!("a function origin")
        };
        let Invocation::Event(e) = &f.invocation else {
            panic!("event invocation")
        };
        assert_eq!(e.maximum_retry_attempts, 2);
        assert_eq!(e.maximum_event_age, Duration::from_secs(21_600));
        assert_eq!(e.retry_delays, LAMBDA_RETRY_DELAYS.to_vec());
        assert_eq!(
            e.function_arn,
            "arn:aws:lambda:local:000000000000:function:f:$LATEST"
        );
        assert!(config.uses_queue());
    }

    #[test]
    fn event_settings_are_checked_and_named() {
        let e = parse_with(&format!(
            "[origins.collect]\ntype = \"function\"\nfunction = \"f\"\ninvocation = \"event\"\n\
             maximum-retry-attempts = 3\nmaximum-event-age-seconds = 0\n\
             on-success = \"sqs:x\"\non-failure = \"queue:bad name\"\ndead-letter = \"function:nope\"\n{FUNCTION}\
             [origins.sync]\ntype = \"function\"\nfunction = \"f\"\non-success = \"queue:q\"\n"
        ))
        .expect_err("invalid")
        .to_string();
        for expected in [
            "origins.collect.maximum-retry-attempts: 3 is out of range 0..=2",
            "origins.collect.maximum-event-age-seconds: 0 is out of range 1..=21600",
            "origins.collect.on-success: \"sqs:x\": expected",
            "origins.collect.on-failure: queue name \"bad name\"",
            "origins.collect.dead-letter: unknown function \"nope\"",
            "origins.sync.on-success: only for invocation = \"event\"",
        ] {
            assert!(e.contains(expected), "{expected:?} not in:\n{e}");
        }
    }

    #[test]
    fn the_queue_section_is_read() {
        let config = parse_with(
            "[queue]\ndata-dir = \"/tmp/q\"\nmax-events = 10\nmax-bytes = 2097152\nconcurrency = 3\n",
        )
        .expect("valid");
        assert_eq!(
            config.queue.backend,
            QueueBackend::Sqlite {
                dir: "/tmp/q".into()
            }
        );
        assert_eq!(
            (
                config.queue.max_events,
                config.queue.max_bytes,
                config.queue.concurrency
            ),
            (10, 2 * 1024 * 1024, 3)
        );
        let e = parse_with("[queue]\nbackend = \"kafka\"\n")
            .expect_err("invalid")
            .to_string();
        assert!(
            e.contains("queue.backend: unknown backend \"kafka\""),
            "{e}"
        );
    }
}
