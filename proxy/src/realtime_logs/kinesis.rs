//! The shapes a real-time log batch takes: as queued ([`Batch`]), as the function gets it (the
//! Kinesis event Lambda's event source mapping sends), and as the on-failure destination gets a
//! discarded batch (Lambda's stream invocation record with `KinesisBatchInfo`).

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The shard every record of a node is on: records are in order per node.
const SHARD: &str = "shardId-000000000000";

/// One request's log record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Record {
    /// Increasing per node (a decimal string, as Kinesis writes them).
    pub sequence_number: String,
    /// When the record was made (ms since the Unix epoch).
    pub arrival_ms: i64,
    /// The fields, tab-separated, with a final newline (CloudFront's format).
    pub data: String,
}

/// Records batched for one delivery, as queued.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Batch {
    /// The node that logged them (the partition key).
    pub node: String,
    /// The records, in order.
    pub records: Vec<Record>,
}

/// The named queue holding this node's batches: its stream, as far as the node goes.
pub fn queue_name(node: &str) -> String {
    let node: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("_realtime-logs-{node}")
}

/// The stream's ARN as events name it.
pub fn stream_arn(node: &str) -> String {
    format!("arn:aws:kinesis:local:000000000000:stream/edge-proxy-realtime-logs-{node}")
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The Kinesis event for `records` of `node`, as Lambda delivers a stream batch.
pub fn event(node: &str, records: &[Record]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": node,
                    "sequenceNumber": r.sequence_number,
                    "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    "approximateArrivalTimestamp": seconds(r.arrival_ms),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{SHARD}:{}", r.sequence_number),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::000000000000:role/edge-proxy",
                "awsRegion": "local",
                "eventSourceARN": stream_arn(node),
            })
        })
        .collect();
    json!({ "Records": records })
}

/// What the on-failure destination gets for a discarded batch: Lambda's record for a stream
/// source, which names the records (by sequence numbers) rather than carrying them.
pub struct Discarded<'a> {
    /// The node that logged them.
    pub node: &'a str,
    /// The discarded records.
    pub records: &'a [Record],
    /// The last invocation's request id.
    pub request_id: &'a str,
    /// The function's ARN.
    pub function_arn: &'a str,
    /// Invocations tried.
    pub attempts: u32,
    /// Whether the last failure was a trap or timeout rather than a returned error.
    pub unhandled: bool,
}

/// The on-failure record of a discarded batch.
pub fn failure_record(d: &Discarded<'_>, now: std::time::SystemTime) -> Value {
    let first = d.records.first().expect("a batch has records");
    let last = d.records.last().expect("a batch has records");
    let at = |ms: i64| {
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
            .to_string()
    };
    json!({
        "requestContext": {
            "requestId": d.request_id,
            "functionArn": d.function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": d.attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": if d.unhandled { "Unhandled" } else { "Handled" },
        },
        "version": "1.0",
        "timestamp": humantime::format_rfc3339_millis(now).to_string(),
        "KinesisBatchInfo": {
            "shardId": SHARD,
            "startSequenceNumber": first.sequence_number,
            "endSequenceNumber": last.sequence_number,
            "approximateArrivalOfFirstRecord": at(first.arrival_ms),
            "approximateArrivalOfLastRecord": at(last.arrival_ms),
            "batchSize": d.records.len(),
            "streamArn": stream_arn(d.node),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32) -> Record {
        Record {
            sequence_number: format!("49590338271490256608559692538361571095921575989136588{n:03}"),
            arrival_ms: 1_545_084_650_987,
            data: format!("1545084650.987\t192.0.2.{n}\t200\n"),
        }
    }

    #[test]
    fn the_event_is_lambdas_kinesis_event() {
        let e = event("node-a", &[record(1)]);
        let r = &e["Records"][0];
        assert_eq!(r["eventSource"], "aws:kinesis");
        assert_eq!(r["eventName"], "aws:kinesis:record");
        assert_eq!(r["kinesis"]["partitionKey"], "node-a");
        assert_eq!(
            r["kinesis"]["approximateArrivalTimestamp"],
            1_545_084_650.987
        );
        let data = base64::engine::general_purpose::STANDARD
            .decode(r["kinesis"]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, b"1545084650.987\t192.0.2.1\t200\n");
        assert_eq!(
            r["eventID"],
            format!("shardId-000000000000:{}", record(1).sequence_number)
        );
    }

    #[test]
    fn a_discarded_batch_is_named_by_its_sequence_numbers() {
        let records = [record(1), record(2)];
        let v = failure_record(
            &Discarded {
                node: "n",
                records: &records,
                request_id: "r",
                function_arn: "arn",
                attempts: 3,
                unhandled: true,
            },
            UNIX_EPOCH,
        );
        let info = &v["KinesisBatchInfo"];
        assert_eq!(info["startSequenceNumber"], records[0].sequence_number);
        assert_eq!(info["endSequenceNumber"], records[1].sequence_number);
        assert_eq!(info["batchSize"], 2);
        assert_eq!(
            info["approximateArrivalOfFirstRecord"],
            "2018-12-17T22:10:50.987Z"
        );
        assert_eq!(v["requestContext"]["condition"], "RetryAttemptsExhausted");
    }
}
