//! `edge-proxy check`, and `run` refusing a bad config.

use std::path::PathBuf;
use std::process::Command;

use crate::support::binary;

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    let conf = dir.path().join("edge.toml");
    std::fs::write(&conf, text).unwrap();
    crate::support::run_check(&conf)
}

const GOOD: &str = r#"version = 1

[[listeners]]
address = "127.0.0.1:8080"

[origins.site]
type = "files"
root = "site"

[origins.api]
type = "http"
servers = ["127.0.0.1:3000"]

[[behaviors]]
path = "/api/*"
origin = "api"

[default-behavior]
origin = "site"
"#;

#[test]
fn good_config_passes() {
    let (ok, stderr) = check(GOOD);
    assert!(ok, "{stderr}");
}

#[test]
fn shipped_configs_pass() {
    let conf_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conf");
    for entry in std::fs::read_dir(conf_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = Command::new(binary())
                .args(["check", "--conf"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn unknown_origin_names_file_line_and_key() {
    let bad = GOOD.replace("origin = \"api\"", "origin = \"apii\"");
    let (ok, stderr) = check(&bad);
    assert!(!ok);
    assert!(
        stderr.contains("edge.toml:16: behaviors[0].origin: unknown origin \"apii\""),
        "{stderr}"
    );
}

/// A server name that does not resolve (`.invalid` never does, RFC 6761) is named with its
/// origin and key, not only as the resolver's error.
#[test]
fn a_server_that_does_not_resolve_is_named() {
    let bad = GOOD.replace(
        "servers = [\"127.0.0.1:3000\"]",
        "servers = [\"127.0.0.1:3000\", \"nowhere.invalid:80\"]",
    );
    let (ok, stderr) = check(&bad);
    assert!(!ok);
    assert!(
        stderr.contains("origin \"api\": servers: \"nowhere.invalid:80\" does not resolve: "),
        "{stderr}"
    );
}

#[test]
fn every_semantic_error_is_listed() {
    let bad = GOOD
        .replace("origin = \"api\"", "origin = \"nope\"")
        .replace("127.0.0.1:8080", "not-an-address")
        .replace("root = \"site\"", "root = \"missing\"");
    let (ok, stderr) = check(&bad);
    assert!(!ok);
    assert!(stderr.contains(":4: listeners[0].address:"), "{stderr}");
    assert!(
        stderr.contains(":8: origins.site.root: not a directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains(":16: behaviors[0].origin: unknown origin \"nope\""),
        "{stderr}"
    );
}

#[test]
fn unknown_key_is_rejected_with_its_line() {
    let bad = GOOD.replace("servers = [", "timeout = 5\nservers = [");
    let (ok, stderr) = check(&bad);
    assert!(!ok);
    assert!(stderr.contains("edge.toml:12: origins.api"), "{stderr}");
    assert!(stderr.contains("unknown field `timeout`"), "{stderr}");
}

#[test]
fn key_of_another_origin_type_is_rejected() {
    let bad = GOOD.replace(
        "root = \"site\"",
        "root = \"site\"\nservers = [\"127.0.0.1:1\"]",
    );
    let (ok, stderr) = check(&bad);
    assert!(!ok);
    assert!(
        stderr.contains(":9: origins.site.servers: not a key of a \"files\" origin"),
        "{stderr}"
    );
}

#[test]
fn syntax_error_names_the_line() {
    let (ok, stderr) = check("version = 1\n[[listeners]\n");
    assert!(!ok);
    assert!(stderr.contains("edge.toml:2"), "{stderr}");
}

#[test]
fn a_duplicate_key_is_named_with_its_line() {
    let bad = GOOD.replace("root = \"site\"", "root = \"site\"\nroot = \"other\"");
    let (ok, stderr) = check(&bad);
    assert!(!ok);
    assert!(
        stderr.contains("edge.toml:9: root: duplicate key"),
        "{stderr}"
    );
}

#[test]
fn run_with_a_bad_config_exits_nonzero_without_serving() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("edge.toml");
    std::fs::write(&conf, GOOD.replace("version = 1", "version = 2")).unwrap();
    let out = Command::new(binary())
        .args(["run", "--conf"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("edge.toml:1: version: unsupported version 2"));
}

#[test]
fn bad_cache_settings_name_line_and_key() {
    let text = GOOD.replace(
        "[default-behavior]\norigin = \"site\"\n",
        "[default-behavior]\norigin = \"site\"\n[default-behavior.cache]\nmin-ttl = 100\nmax-ttl = 10\nheaders = \"all\"\n\n[cache]\npurge-token-env = \"EDGE_TEST_SURELY_UNSET_TOKEN\"\n",
    );
    let (ok, stderr) = check(&text);
    assert!(!ok);
    assert!(
        stderr.contains(":21: default-behavior.cache.min-ttl: min-ttl is larger than max-ttl"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            ":23: default-behavior.cache.headers: unknown value \"all\", expected \"none\" or a list of names"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            ":26: cache.purge-token-env: environment variable EDGE_TEST_SURELY_UNSET_TOKEN is not set"
        ),
        "{stderr}"
    );
}

#[test]
fn node_and_admin_settings_are_checked_with_line_and_key() {
    let text = GOOD.replace(
        "[[listeners]]",
        "[admin]\naddress = \"127.0.0.1:9080\"\ntoken = \"short\"\n\n[node]\nworker-threads = \"many\"\nshutdown-grace-ms = -1\n\n[[listeners]]",
    );
    let (ok, stderr) = check(&text);
    assert!(!ok);
    assert!(
        stderr.contains(":5: admin.token: a token needs at least 16 characters"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            ":8: node.worker-threads: \"many\" is neither \"auto\" nor a number in 1..=256"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(":9: node.shutdown-grace-ms: -1 is out of range 0..=3600000"),
        "{stderr}"
    );
    let auto = GOOD.replace(
        "[[listeners]]",
        "[node]\nworker-threads = \"auto\"\nshutdown-grace-ms = 0\n\n[[listeners]]",
    );
    let (ok, stderr) = check(&auto);
    assert!(ok, "{stderr}");
}

/// Every `tests/config/<name>.toml` checked as a user would (`edge-proxy check --conf
/// config/<name>.toml` from `tests/`), its stderr compared with `<name>.expected`: structural and
/// semantic errors listed together, each with file, line and a clean key path.
/// `UPDATE_GOLDEN=1` rewrites the expected files.
#[test]
fn config_errors_match_their_golden_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let out = Command::new(binary())
            .current_dir(&root)
            .args(["check", "--conf"])
            .arg(format!("config/{name}"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name} passed");
        let got = String::from_utf8_lossy(&out.stderr).into_owned();
        let expected_file = file.with_extension("expected");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&expected_file, &got).unwrap();
        }
        let want = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        assert_eq!(got, want, "{name}");
    }
}
