//! What an asynchronous invocation leaves behind, in AWS's shapes: the destination record
//! (Lambda's "invocation record") and the dead letter (the event with SQS's message
//! attributes `RequestID`, `ErrorCode`, `ErrorMessage`).

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::origins::EventAttempt;

/// Why an event's processing ended (`requestContext.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The function returned.
    Success,
    /// Every attempt (one plus `maximum-retry-attempts`) ended in a function error.
    RetriesExhausted,
    /// The event was older than `maximum-event-age-seconds` before its next attempt.
    EventAgeExceeded,
}

impl Condition {
    /// The name AWS writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// How an attempt answered: `responseContext` and `responsePayload` of a record.
pub fn response_of(attempt: &EventAttempt) -> Value {
    match attempt {
        EventAttempt::Success(result) => json!({
            "responseContext": { "statusCode": 200, "executedVersion": "$LATEST" },
            "responsePayload": payload_value(result),
        }),
        EventAttempt::FunctionError { unhandled, message } => json!({
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": if *unhandled { "Unhandled" } else { "Handled" },
            },
            "responsePayload": error_payload(message),
        }),
        EventAttempt::NotInvoked(reason) => json!({
            "responseContext": { "statusCode": 429, "executedVersion": "$LATEST" },
            "responsePayload": error_payload(reason),
        }),
    }
}

/// A function's result as the record shows it: the JSON it returned, else its text.
fn payload_value(result: &[u8]) -> Value {
    if result.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(result)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(result).into_owned()))
}

/// An error as Lambda reports one: `{"errorMessage": …}`, or the error object the function
/// returned when it is one.
fn error_payload(message: &str) -> Value {
    match serde_json::from_str::<Value>(message) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "errorMessage": message }),
    }
}

/// The facts of one finished event a record is built from.
pub struct Finished<'a> {
    /// Why it ended.
    pub condition: Condition,
    /// The viewer request's id.
    pub request_id: &'a str,
    /// The function's ARN.
    pub function_arn: &'a str,
    /// Attempts made.
    pub attempts: u32,
    /// The event.
    pub request_payload: &'a [u8],
    /// The last attempt's `responseContext` and `responsePayload` ([`response_of`]), if any ran.
    pub response: Option<Value>,
}

/// The invocation record for a destination, as Lambda sends it.
pub fn invocation_record(f: &Finished<'_>, now: std::time::SystemTime) -> Value {
    let mut record = json!({
        "version": "1.0",
        "timestamp": humantime::format_rfc3339_millis(now).to_string(),
        "requestContext": {
            "requestId": f.request_id,
            "functionArn": f.function_arn,
            "condition": f.condition.as_str(),
            "approximateInvokeCount": f.attempts,
        },
        "requestPayload": payload_value(f.request_payload),
    });
    if let (Some(Value::Object(response)), Value::Object(out)) = (&f.response, &mut record) {
        for (k, v) in response {
            out.insert(k.clone(), v.clone());
        }
    }
    record
}

/// The dead letter's body: the event as-is, with the attributes Lambda sets on a DLQ message
/// (`ErrorCode`: the last attempt's status; `ErrorMessage`: the first 1 KB of its error).
pub fn dead_letter(f: &Finished<'_>, origin: &str, sent: std::time::SystemTime) -> Value {
    let (code, message) = match &f.response {
        Some(r) => (
            r["responseContext"]["statusCode"].as_u64().unwrap_or(200),
            r["responsePayload"]["errorMessage"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| r["responsePayload"].to_string()),
        ),
        None => (429, format!("{}: never attempted", f.condition.as_str())),
    };
    let message = truncate_utf8(&message, 1024);
    let millis = sent
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .to_string();
    json!({
        "messageId": f.request_id,
        "body": String::from_utf8_lossy(f.request_payload),
        "attributes": { "SentTimestamp": millis },
        "messageAttributes": {
            "RequestID": { "stringValue": f.request_id, "dataType": "String" },
            "ErrorCode": { "stringValue": code.to_string(), "dataType": "Number" },
            "ErrorMessage": { "stringValue": message, "dataType": "String" },
        },
        "origin": origin,
        "condition": f.condition.as_str(),
    })
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's example record (RetriesExhausted after three attempts of an unhandled error),
    /// rebuilt from its own facts, equals the example field for field.
    #[test]
    fn a_failure_record_is_awss_example() {
        let example: Value = serde_json::from_str(include_str!(
            "../../../tests/vectors/lambda-async-destination-record-failure-lambda-docs.json"
        ))
        .expect("the example is JSON");
        let ctx = &example["requestContext"];
        let payload = serde_json::to_vec(&example["requestPayload"]).unwrap();
        let message = example["responsePayload"]["errorMessage"].as_str().unwrap();
        let finished = Finished {
            condition: Condition::RetriesExhausted,
            request_id: ctx["requestId"].as_str().unwrap(),
            function_arn: ctx["functionArn"].as_str().unwrap(),
            attempts: 3,
            request_payload: &payload,
            response: Some(response_of(&EventAttempt::FunctionError {
                unhandled: true,
                message: message.to_string(),
            })),
        };
        let when = humantime::parse_rfc3339(example["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(invocation_record(&finished, when), example);
    }

    #[test]
    fn a_success_record_carries_the_result_and_no_function_error() {
        let finished = Finished {
            condition: Condition::Success,
            request_id: "r1",
            function_arn: "arn:aws:lambda:local:000000000000:function:f:$LATEST",
            attempts: 1,
            request_payload: b"{\"a\":1}",
            response: Some(response_of(&EventAttempt::Success(
                b"{\"ok\":true}".to_vec(),
            ))),
        };
        let record = invocation_record(&finished, UNIX_EPOCH);
        assert_eq!(record["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(record["requestContext"]["condition"], "Success");
        assert_eq!(record["responsePayload"], json!({ "ok": true }));
        assert!(record["responseContext"].get("functionError").is_none());
    }

    #[test]
    fn a_dead_letter_keeps_the_event_and_names_the_error() {
        let long = "é".repeat(2000);
        let finished = Finished {
            condition: Condition::RetriesExhausted,
            request_id: "r2",
            function_arn: "arn",
            attempts: 3,
            request_payload: b"{\"a\":1}",
            response: Some(response_of(&EventAttempt::FunctionError {
                unhandled: false,
                message: long,
            })),
        };
        let letter = dead_letter(&finished, "collect", UNIX_EPOCH);
        assert_eq!(letter["body"], "{\"a\":1}");
        let attrs = &letter["messageAttributes"];
        assert_eq!(attrs["RequestID"]["stringValue"], "r2");
        assert_eq!(attrs["ErrorCode"]["stringValue"], "200");
        let message = attrs["ErrorMessage"]["stringValue"].as_str().unwrap();
        assert!(
            message.len() <= 1024 && message.len() > 1000,
            "{}",
            message.len()
        );
    }
}
