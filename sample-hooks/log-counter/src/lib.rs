//! A real-time log processor: gets batches of CloudFront-style log records as a Kinesis event
//! (each record's `data` is one request's fields, tab-separated, base64-encoded) and writes the
//! count of requests per status and path to its output. `FIELDS` names the configured fields in
//! order (`[realtime-logs] fields`); by default the node's default fields.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

/// The node's default `[realtime-logs] fields`.
const DEFAULT_FIELDS: &str =
    "timestamp,c-ip,sc-status,cs-method,cs-host,cs-uri-stem,time-taken,x-edge-request-id,x-edge-result-type";

/// Counts the batch's requests by status and path, prints one line per pair, and reports no
/// failed items.
pub fn handler(event: Value) -> Result<Value, edge_hooks::Error> {
    let fields = std::env::var("FIELDS").unwrap_or_else(|_| DEFAULT_FIELDS.into());
    let position = |name: &str| fields.split(',').position(|f| f.trim() == name);
    let (Some(status_at), Some(path_at)) = (position("sc-status"), position("cs-uri-stem")) else {
        return Err("FIELDS must include sc-status and cs-uri-stem".into());
    };
    let mut counts: BTreeMap<(String, String), u32> = BTreeMap::new();
    let records = event["Records"].as_array().ok_or("not a Kinesis event")?;
    for record in records {
        let data = record["kinesis"]["data"]
            .as_str()
            .ok_or("a record without data")?;
        let line = base64::engine::general_purpose::STANDARD.decode(data)?;
        let line = String::from_utf8_lossy(&line);
        let values: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
        let value = |at: usize| values.get(at).copied().unwrap_or("-").to_string();
        *counts
            .entry((value(status_at), value(path_at)))
            .or_default() += 1;
    }
    for ((status, path), n) in &counts {
        println!("log-counter: {n} x {status} {path}");
    }
    let sequence = |r: Option<&Value>| {
        r.and_then(|r| r["kinesis"]["sequenceNumber"].as_str())
            .unwrap_or("-")
            .to_string()
    };
    println!(
        "log-counter: {} records, sequence {} to {}",
        records.len(),
        sequence(records.first()),
        sequence(records.last())
    );
    Ok(json!({ "batchItemFailures": [] }))
}

edge_hooks::export_json_function!(handler);

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Value {
        json!({ "kinesis": { "data": base64::engine::general_purpose::STANDARD.encode(line) } })
    }

    #[test]
    fn a_batch_is_counted_by_status_and_path() {
        let event = json!({ "Records": [
            record("1.0\t1.2.3.4\t200\tGET\th\t/a\t0.001\tr1\tMiss\n"),
            record("1.0\t1.2.3.4\t200\tGET\th\t/a\t0.001\tr2\tHit\n"),
        ]});
        assert_eq!(handler(event).unwrap(), json!({ "batchItemFailures": [] }));
        assert!(handler(json!({})).is_err());
    }
}
