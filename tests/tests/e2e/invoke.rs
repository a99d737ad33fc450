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

#[test]
fn alb_sample_events_run_through_an_alb_target_function() {
    for (event, multi) in [
        ("alb-request-lambda-docs.json", false),
        ("alb-request-multivalue.aws-lambda-go.json", true),
    ] {
        let (ok, json, stderr) = invoke(guests::ALB_HELLO, event, &[]);
        assert!(ok, "{event}: {stderr}");
        assert_eq!(json["statusCode"], 200);
        let sample: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(vector(event)).unwrap()).unwrap();
        let echo: serde_json::Value = serde_json::from_str(json["body"].as_str().unwrap()).unwrap();
        assert_eq!(echo["method"], sample["httpMethod"], "{event}");
        assert_eq!(echo["path"], sample["path"], "{event}");
        assert_eq!(echo["multiValue"], multi, "{event}");
        let field = if multi {
            "multiValueHeaders"
        } else {
            "headers"
        };
        let sent_headers = sample[field].as_object().unwrap();
        let echoed = echo["headers"].as_array().unwrap();
        assert_eq!(
            echoed.len(),
            sent_headers
                .values()
                .map(|v| v.as_array().map_or(1, |a| a.len()))
                .sum::<usize>(),
            "{event}"
        );
        for pair in echoed {
            let name = pair[0].as_str().unwrap();
            let sent = &sent_headers[name];
            let matches = if multi {
                sent.as_array().unwrap().contains(&pair[1])
            } else {
                *sent == pair[1]
            };
            assert!(matches, "{event}: header {name}");
        }
        if multi {
            assert_eq!(
                json["multiValueHeaders"]["set-cookie"]
                    .as_array()
                    .unwrap()
                    .len(),
                2
            );
        } else {
            assert!(json["headers"]["set-cookie"].is_string());
        }
    }
}

/// `invoke` gives the function the event's header lists themselves (nothing is lent), so a call
/// that leaves the synchronous path runs again from a copy of the event as it came.
#[test]
fn a_call_run_again_from_a_json_event_makes_its_edits_once() {
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vector("cf-viewer-response.json")).unwrap())
            .unwrap();
    event["Records"][0]["cf"]["request"]["headers"]["x-probe"] =
        serde_json::json!([{"key": "X-Probe", "value": "edit-then-sleep"}]);
    // A line the call appends to: given back as it came, it is there once, before the append.
    event["Records"][0]["cf"]["response"]["headers"]["x-probe-attempt"] =
        serde_json::json!([{"key": "X-Probe-Attempt", "value": "0"}]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let out = Command::new(binary())
        .args(["invoke", "--function", guests::FIXTURE_PROBE, "--event"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["statusDescription"], "OK probed", "{json}");
    let attempts: Vec<&str> = json["headers"]["x-probe-attempt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["value"].as_str().unwrap())
        .collect();
    assert_eq!(attempts, ["0", "1"], "{json}");
    assert!(
        stderr.contains("moves to the asynchronous path"),
        "{stderr}"
    );
    assert!(
        stderr.contains("probe invocation 1 at ViewerResponse"),
        "{stderr}"
    );
}

/// `/tmp/perf-<pid>.map` of a run of `invoke` with `env` set, removed once read (`None` when
/// the run wrote none).
fn perf_map_of_a_run(env: &[(&str, &str)]) -> Option<String> {
    let mut child = Command::new(binary())
        .args(["invoke", "--function", guests::FIXTURE_NOOP, "--event"])
        .arg(vector("cf-viewer-request.json"))
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let map = PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&map).ok();
    let _ = std::fs::remove_file(&map);
    text
}

#[test]
fn a_perf_map_names_the_hooks_code_only_when_asked_for() {
    let map = perf_map_of_a_run(&[("EDGE_PROXY_PERFMAP", "1")]).expect("no perf map written");
    // Each line is `address size name`; the hook's functions are among the names (by index:
    // the test guests carry no name section).
    let hook_functions = map
        .lines()
        .filter_map(|l| l.splitn(3, ' ').nth(2))
        .filter(|name| name.starts_with("wasm[0]::function["))
        .count();
    assert!(hook_functions > 10, "no hook function named in:\n{map}");
    assert_eq!(perf_map_of_a_run(&[("EDGE_PROXY_PERFMAP", "")]), None);
    assert_eq!(perf_map_of_a_run(&[]), None);
}
