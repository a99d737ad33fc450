//! `[realtime-logs]`: CloudFront's real-time logs. A sample of requests becomes log records
//! (the chosen fields, tab-separated, as CloudFront writes them to Kinesis), batched and
//! delivered in order to a function the way an event source mapping delivers a stream.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::IssueSink;
use super::event_model::RealtimeLogs;
use super::log_field::LogField;
use super::queue::parse_destination;
use super::raw::{RawFunction, RawRealtimeLogs};
use super::values::in_range;

/// The fields sent when `fields` is not given.
const DEFAULT_FIELDS: &[LogField] = &[
    LogField::Timestamp,
    LogField::ClientIp,
    LogField::Status,
    LogField::Method,
    LogField::Host,
    LogField::UriStem,
    LogField::TimeTaken,
    LogField::RequestId,
    LogField::ResultType,
];

/// `[realtime-logs]`, when present; its function must be configured.
pub(super) fn realtime_logs(
    raw: Option<&RawRealtimeLogs>,
    functions: &BTreeMap<String, RawFunction>,
    sink: &mut IssueSink,
) -> Option<RealtimeLogs> {
    let r = raw?;
    let function = r.function.get_ref().clone();
    if !functions.contains_key(&function) {
        sink.at(
            Some(r.function.span()),
            "realtime-logs.function",
            format!("unknown function \"{function}\""),
        );
    }
    let fields = match &r.fields {
        None => DEFAULT_FIELDS.to_vec(),
        Some(list) => {
            if list.get_ref().is_empty() {
                sink.at(
                    Some(list.span()),
                    "realtime-logs.fields",
                    "give at least one field",
                );
            }
            list.get_ref()
                .iter()
                .filter_map(|name| {
                    let field = LogField::from_name(name);
                    if field.is_none() {
                        sink.at(
                            Some(list.span()),
                            "realtime-logs.fields",
                            format!(
                                "unknown field \"{name}\", expected one of {}",
                                LogField::ALL
                                    .iter()
                                    .map(|f| f.name())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                    field
                })
                .collect()
        }
    };
    let int =
        |v: &Option<toml::Spanned<i64>>, name: &str, min, max, default, sink: &mut IssueSink| {
            v.as_ref()
                .and_then(|v| in_range(v, min, max, &format!("realtime-logs.{name}"), sink))
                .unwrap_or(default)
        };
    Some(RealtimeLogs {
        sampling_rate: int(&r.sampling_rate, "sampling-rate", 1, 100, 100, sink) as u32,
        batch_size: int(&r.batch_size, "batch-size", 1, 10_000, 100, sink) as usize,
        batch_window: Duration::from_millis(int(
            &r.batch_window_ms,
            "batch-window-ms",
            0,
            300_000,
            1000,
            sink,
        ) as u64),
        maximum_retry_attempts: int(
            &r.maximum_retry_attempts,
            "maximum-retry-attempts",
            0,
            10_000,
            2,
            sink,
        ) as u32,
        timeout: Duration::from_millis(
            int(&r.timeout_ms, "timeout-ms", 1, 900_000, 30_000, sink) as u64
        ),
        bisect_batch_on_function_error: r.bisect_batch_on_function_error.unwrap_or(false),
        on_failure: r
            .on_failure
            .as_ref()
            .and_then(|d| parse_destination(d, "realtime-logs.on-failure", sink)),
        function,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;
    use super::*;

    const FUNCTION: &str = "[functions.f]\nmodule = \"src/config/realtime_logs.rs\"\n";

    #[test]
    fn defaults_and_fields_are_read() {
        let config = parse_with(&format!(
            "{FUNCTION}[realtime-logs]\nfunction = \"f\"\nfields = [\"timestamp\", \"sc-status\", \"cs-uri-stem\"]\nsampling-rate = 10\n"
        ))
        .expect("valid");
        assert!(config.uses_queue(), "batches are queued");
        let logs = config.realtime_logs.expect("configured");
        assert_eq!(logs.sampling_rate, 10);
        assert_eq!(logs.batch_size, 100);
        assert_eq!(logs.batch_window, Duration::from_secs(1));
        assert_eq!(
            logs.fields,
            [LogField::Timestamp, LogField::Status, LogField::UriStem]
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let e = parse_with(
            "[realtime-logs]\nfunction = \"nope\"\nfields = [\"sc-status\", \"x-bogus\"]\nsampling-rate = 0\non-failure = \"queue:_mine\"\n",
        )
        .expect_err("invalid")
        .to_string();
        for expected in [
            "realtime-logs.function: unknown function \"nope\"",
            "realtime-logs.fields: unknown field \"x-bogus\"",
            "realtime-logs.sampling-rate: 0 is out of range 1..=100",
            "names starting with '_' are the node's own",
        ] {
            assert!(e.contains(expected), "{expected:?} not in:\n{e}");
        }
    }
}
