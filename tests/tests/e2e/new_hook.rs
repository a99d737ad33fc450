//! `edge-proxy new`: the project it writes builds and passes its own test as written, in each
//! language, and its config serves the hook through the live proxy.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{binary, client, Proxy};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `program` in `dir`; panics with its output when it fails.
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{program} {args:?} in {}: {text}",
        dir.display()
    );
    text
}

/// Writes a project with `edge-proxy new` into a fresh directory and returns it.
fn new_project(name: &str, lang: &str, trigger: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    let bin = binary();
    let said = run(
        tmp.path(),
        bin.to_str().unwrap(),
        &["new", name, "--lang", lang, "--trigger", trigger],
        &[],
    );
    assert!(said.contains("next:"), "{said}");
    (tmp, dir)
}

/// Serves the project with its own `edge.toml` (on free ports) and asks for `/?lang=fr`.
async fn serve(dir: &Path) -> reqwest::Response {
    // The test's own listener and admin ports: the file's are fixed, and tests run at once.
    let conf = std::fs::read_to_string(dir.join("edge.toml")).unwrap();
    assert!(
        conf.contains("[[listeners]]\naddress = \"127.0.0.1:8080\"\n"),
        "{conf}"
    );
    let conf = conf
        .replace("[[listeners]]\naddress = \"127.0.0.1:8080\"\n", "")
        .replace("version = 1\n", "")
        .replace(
            "root = \"site\"",
            &format!("root = \"{}/site\"", dir.display()),
        )
        .replace("module = \"", &format!("module = \"{}/", dir.display()));
    let proxy = Proxy::start(&conf);
    let resp = client().get(proxy.url("/?lang=fr")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.stderr());
    drop(proxy);
    resp
}

#[tokio::test]
async fn a_new_rust_hook_builds_tests_and_serves() {
    let (_tmp, dir) = new_project("lang-path", "rust", "viewer-request");
    // One target directory for every run, so the SDK's dependencies build once.
    let target = repo().join("target/new-hook");
    let target = target.to_str().unwrap();
    run(
        &dir,
        "cargo",
        &["test", "--quiet"],
        &[("CARGO_TARGET_DIR", target)],
    );
    run(
        &dir,
        "cargo",
        &["build", "--quiet", "--release", "--target", "wasm32-wasip2"],
        &[("CARGO_TARGET_DIR", target)],
    );
    let built = Path::new(target).join("wasm32-wasip2/release/lang_path.wasm");
    let wanted = dir.join("target/wasm32-wasip2/release/lang_path.wasm");
    std::fs::create_dir_all(wanted.parent().unwrap()).unwrap();
    std::fs::copy(built, &wanted).unwrap();
    let resp = serve(&dir).await;
    assert_eq!(
        resp.text().await.unwrap(),
        "<h1>la racine en français</h1>\n"
    );
}

/// A Python or JavaScript project as its README says: `./build.sh`, then `./test.sh` (invoke on
/// AWS's sample event) passing.
fn build_and_test_script_project(dir: &Path, name: &str) {
    run(dir, "./build.sh", &[], &[]);
    let bin = binary();
    let said = run(
        dir,
        "./test.sh",
        &[],
        &[("EDGE_PROXY", bin.to_str().unwrap())],
    );
    assert!(said.contains(&format!("ok: {name} passed")), "{said}");
}

#[tokio::test]
async fn a_new_python_hook_builds_tests_and_serves() {
    let (_tmp, dir) = new_project("py-frame", "python", "viewer-response");
    build_and_test_script_project(&dir, "py-frame");
    let resp = serve(&dir).await;
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn a_new_javascript_hook_builds_tests_and_serves() {
    let (_tmp, dir) = new_project("js-lang", "js", "origin-request");
    build_and_test_script_project(&dir, "js-lang");
    let resp = serve(&dir).await;
    assert_eq!(
        resp.text().await.unwrap(),
        "<h1>la racine en français</h1>\n"
    );
}

#[test]
fn new_refuses_a_bad_name_and_a_directory_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = binary();
    let out = Command::new(&bin)
        .current_dir(tmp.path())
        .args(["new", "9lives"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with a letter"));
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/file"), "x").unwrap();
    let out = Command::new(&bin)
        .current_dir(tmp.path())
        .args(["new", "taken"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}
