//! `edge-proxy invoke` on AWS's sample Lambda@Edge events, with the proxy's validation and
//! error statuses.

use std::path::PathBuf;
use std::process::Command;

use edge_test_artifacts as guests;

use crate::support::binary;

fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name)
}

fn invoke(function: &str, event: &str, extra: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(binary())
        .args(["invoke", "--function", function, "--event"])
        .arg(vector(event))
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn viewer_response_sample_gets_security_headers() {
    let (ok, json, stderr) = invoke(
        guests::SECURITY_HEADERS,
        "cf-viewer-response.json",
        &["--env", "CSP=default-src 'none'"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(json["status"], "200");
    assert_eq!(
        json["headers"]["x-frame-options"][0]["key"],
        "X-Frame-Options"
    );
    assert_eq!(
        json["headers"]["content-security-policy"][0]["value"],
        "default-src 'none'"
    );
    // The origin's headers are kept, with their original keys.
    assert_eq!(
        json["headers"]["server"][0]["value"],
        "ExampleCustomOriginServer"
    );
    assert!(
        stderr.contains("REPORT Duration:") && stderr.contains("Init Duration:"),
        "{stderr}"
    );
}

#[test]
fn each_sample_event_runs_with_its_trigger() {
    for (event, trigger) in [
        ("cf-viewer-request.json", "ViewerRequest"),
        ("cf-origin-request.json", "OriginRequest"),
        ("cf-origin-response.json", "OriginResponse"),
        ("cf-viewer-response.json", "ViewerResponse"),
    ] {
        let (ok, json, stderr) = invoke(guests::FIXTURE_PROBE, event, &["--env", "PROBE_VALUE=v"]);
        assert!(ok, "{event}: {stderr}");
        assert_eq!(
            json["headers"]["x-probe-event"][0]["value"], trigger,
            "{event}"
        );
        assert_eq!(json["headers"]["x-probe-env"][0]["value"], "v", "{event}");
        assert!(
            stderr.contains(&format!("probe invocation 1 at {trigger}")),
            "{stderr}"
        );
    }
}

#[test]
fn origin_request_sample_keeps_its_custom_origin() {
    let (ok, json, stderr) = invoke(guests::FIXTURE_PROBE, "cf-origin-request.json", &[]);
    assert!(ok, "{stderr}");
    assert!(
        json["origin"]["custom"]["domainName"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{json}"
    );
    assert!(json["uri"].as_str().unwrap().starts_with('/'));
}

#[test]
fn generated_response_reads_back_in_aws_shape() {
    let (ok, json, stderr) = invoke(
        guests::BASIC_AUTH,
        "cf-viewer-request.json",
        &[
            "--env",
            "BASIC_AUTH_USER=u",
            "--env",
            "BASIC_AUTH_PASSWORD=p",
        ],
    );
    assert!(ok, "{stderr}");
    assert_eq!(json["status"], "401");
    assert_eq!(json["statusDescription"], "Unauthorized");
    assert_eq!(
        json["headers"]["www-authenticate"][0]["key"],
        "Www-Authenticate"
    );
}

#[test]
fn failures_print_the_status_the_proxy_would_return() {
    let (ok, _, stderr) = invoke(guests::FIXTURE_TRAP, "cf-viewer-request.json", &[]);
    assert!(!ok);
    assert!(
        stderr.contains("trapped") && stderr.contains("status 503"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fixture trap"),
        "the guest's panic message is logged: {stderr}"
    );

    let (ok, _, stderr) = invoke(
        guests::FIXTURE_SPIN,
        "cf-viewer-request.json",
        &["--timeout-ms", "100"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("timed out after 100 ms") && stderr.contains("status 503"),
        "{stderr}"
    );

    let (ok, _, stderr) = invoke(
        guests::FIXTURE_MEMORY_BOMB,
        "cf-viewer-request.json",
        &["--memory-mb", "16"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("memory limit") && stderr.contains("status 503"),
        "{stderr}"
    );

    let (ok, _, stderr) = invoke(
        guests::FIXTURE_OVERSIZED_RESPONSE,
        "cf-viewer-request.json",
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.contains("over the 40960-byte limit") && stderr.contains("status 502"),
        "{stderr}"
    );

    // Origin triggers allow 1 MB.
    let (ok, _, stderr) = invoke(
        guests::FIXTURE_OVERSIZED_RESPONSE,
        "cf-origin-request.json",
        &[],
    );
    assert!(ok, "{stderr}");

    let (ok, _, stderr) = invoke(
        guests::FIXTURE_INVALID_HEADER,
        "cf-viewer-request.json",
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.contains("\"via\" is read-only") && stderr.contains("status 502"),
        "{stderr}"
    );
}

#[test]
fn a_bad_event_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"Records": [{"cf": {"config": {"eventType": "viewer-sideways"}, "request": {}}}]}"#,
    )
    .unwrap();
    let out = Command::new(binary())
        .args(["invoke", "--function", guests::FIXTURE_PROBE, "--event"])
        .arg(&event)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown eventType \"viewer-sideways\""));
}

#[test]
fn python_hook_answers_the_aws_sample_event() {
    // The sample viewer-request comes from curl.
    let (ok, json, stderr) = invoke(
        guests::PYTHON_BOT_BLOCK,
        "cf-viewer-request.json",
        &["--env", "BLOCKED_AGENTS=curl"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(json["status"], "403");
    let (ok, json, stderr) = invoke(guests::PYTHON_BOT_BLOCK, "cf-viewer-request.json", &[]);
    assert!(ok, "{stderr}");
    assert_eq!(json["headers"]["x-hook-language"][0]["value"], "python");
    assert_eq!(json["headers"]["host"][0]["key"], "Host");
}
