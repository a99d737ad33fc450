//! A `lambda`-world function on any event: JSON in, JSON out, as `lambda_runtime` runs a
//! handler of `serde_json::Value`. For functions that are not HTTP targets: destinations that
//! get invocation records, real-time log processors that get Kinesis batches.

use serde_json::Value;

/// Runs `handler` on the event JSON; its value is the result JSON.
pub fn invoke(
    event: Vec<u8>,
    handler: fn(Value) -> Result<Value, crate::error::Error>,
) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(&event).map_err(|e| format!("event is not JSON: {e}"))?;
    let result = handler(v).map_err(|e| e.to_string())?;
    serde_json::to_vec(&result).map_err(|e| e.to_string())
}
