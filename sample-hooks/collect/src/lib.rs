//! An event target: takes a beacon (`POST /collect…`), writes one line about it to its output
//! (the node logs it under the request id), and fails on a body of `fail`, so retries, the
//! failure destination and the dead-letter queue can be watched. Run with `invocation =
//! "event"`, the viewer has its 202 long before this runs.

use edge_hooks::alb::{AlbRequest, AlbResponse};

/// Logs the beacon; a body of `fail` is a function error.
pub fn handler(request: AlbRequest) -> Result<AlbResponse, edge_hooks::Error> {
    let id = request
        .header("x-edge-request-id")
        .unwrap_or("-")
        .to_string();
    if request.body == b"fail" {
        return Err(format!("request {id}: asked to fail").into());
    }
    println!(
        "collected {} {} {} bytes (request {id})",
        request.method,
        request.path,
        request.body.len()
    );
    Ok(AlbResponse::new(204))
}

edge_hooks::export_alb_function!(handler);

#[cfg(test)]
mod tests {
    use super::*;

    fn beacon(body: &[u8]) -> AlbRequest {
        AlbRequest {
            method: "POST".into(),
            path: "/collect".into(),
            query: Vec::new(),
            headers: vec![("x-edge-request-id".into(), "r1".into())],
            body: body.to_vec(),
            multi_value: false,
            target_group_arn: String::new(),
        }
    }

    #[test]
    fn a_beacon_is_taken_and_fail_is_a_function_error() {
        assert_eq!(handler(beacon(b"clicked")).unwrap().status, 204);
        let e = handler(beacon(b"fail")).unwrap_err();
        assert_eq!(e.to_string(), "request r1: asked to fail");
    }
}
