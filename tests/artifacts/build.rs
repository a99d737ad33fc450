//! Builds every guest (sample hooks and test fixtures) for `wasm32-wasip2` into its own target
//! directory, and writes one constant per guest naming its `.wasm` file. A nested cargo with its
//! own target dir does not contend for the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] = &[
    "security-headers",
    "basic-auth",
    "redirects",
    "ab-test",
    "origin-select",
    "cache-control",
    "alb-hello",
    "collect",
    "log-counter",
    "fixture-trap",
    "fixture-spin",
    "fixture-memory-bomb",
    "fixture-invalid-header",
    "fixture-oversized-response",
    "fixture-probe",
    "fixture-noop",
    "fixture-header-work",
    "fixture-ladder",
    "fixture-empty-export",
    "fixture-alb-probe",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../..").canonicalize().unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = root.join("target/guests");

    for dir in ["hooks-sdk", "sample-hooks", "tests/fixtures"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args([
            "build",
            "--locked",
            "--profile",
            "guest",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS");
    for package in GUESTS {
        cmd.args(["-p", package]);
    }
    let status = cmd.status().expect("run cargo for the wasm guests");
    assert!(status.success(), "building the wasm guests failed (is the wasm32-wasip2 target installed? `make test` installs it)");

    let mut consts = String::new();
    for package in GUESTS {
        let file = target_dir
            .join("wasm32-wasip2/guest")
            .join(format!("{}.wasm", package.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        let name = package.to_uppercase().replace('-', "_");
        consts.push_str(&format!(
            "/// `{package}` built for wasm32-wasip2.\npub const {name}: &str = {:?};\n",
            path_str(&file)
        ));
    }
    consts.push_str(&python_guest(&root, &target_dir));
    consts.push_str(&js_guest(&root, &target_dir));
    std::fs::write(out.join("guests.rs"), consts).unwrap();
}

/// Builds the Python sample hook with componentize-py (installed into target/py by
/// scripts/setup.sh, which this runs when it is missing).
fn python_guest(root: &Path, target_dir: &Path) -> String {
    let tool = root.join("target/py/bin/componentize-py");
    if !tool.exists() {
        let status = Command::new(root.join("scripts/setup.sh"))
            .status()
            .expect("run scripts/setup.sh");
        assert!(
            status.success(),
            "scripts/setup.sh failed; it installs componentize-py"
        );
    }
    let source = root.join("sample-hooks/python-bot-block");
    println!("cargo:rerun-if-changed={}", source.join("app.py").display());
    let out_dir = target_dir.join("python");
    std::fs::create_dir_all(&out_dir).unwrap();
    let wasm = out_dir.join("python_bot_block.wasm");
    let status = Command::new(&tool)
        .arg("-d")
        .arg(root.join("hooks-sdk/wit"))
        .args(["-w", "hook", "componentize", "-p"])
        .arg(&source)
        .arg("app")
        .arg("-o")
        .arg(&wasm)
        .status()
        .expect("run componentize-py");
    assert!(
        status.success(),
        "componentize-py failed to build sample-hooks/python-bot-block"
    );
    format!("/// `python-bot-block` (Python, componentize-py).\npub const PYTHON_BOT_BLOCK: &str = {:?};\n", path_str(&wasm))
}

/// Builds the JavaScript sample hook and the JavaScript fixture with componentize-js
/// (installed into hooks-js/node_modules by scripts/setup.sh, which this runs when it is
/// missing), and the contract's TypeScript types next to them.
fn js_guest(root: &Path, target_dir: &Path) -> String {
    let js = root.join("hooks-js");
    for file in ["edge-hooks.js", "build.mjs", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", js.join(file).display());
    }
    if !js.join("node_modules/.package-lock.json").exists() {
        let status = Command::new(root.join("scripts/setup.sh"))
            .status()
            .expect("run scripts/setup.sh");
        assert!(
            status.success(),
            "scripts/setup.sh failed; it installs componentize-js"
        );
    }
    let out_dir = target_dir.join("js");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut consts = String::new();
    for (source, name, doc) in [
        (
            "sample-hooks/js-security-headers/index.js",
            "JS_SECURITY_HEADERS",
            "`js-security-headers` (JavaScript, componentize-js).",
        ),
        (
            "tests/js-fixtures/header-edits/index.js",
            "JS_HEADER_EDITS",
            "`tests/js-fixtures/header-edits` (JavaScript, componentize-js).",
        ),
    ] {
        println!("cargo:rerun-if-changed={}", root.join(source).display());
        let wasm = out_dir.join(format!("{}.wasm", name.to_lowercase()));
        let status = Command::new("node")
            .arg(js.join("build.mjs"))
            .arg(root.join(source))
            .arg(&wasm)
            .status()
            .expect("run node (scripts/setup.sh installs it)");
        assert!(status.success(), "componentize-js failed to build {source}");
        consts.push_str(&format!(
            "/// {doc}\npub const {name}: &str = {:?};\n",
            path_str(&wasm)
        ));
    }
    let status = Command::new(js.join("node_modules/.bin/jco"))
        .args(["types", "--world-name", "hook", "-q", "-o"])
        .arg(out_dir.join("types"))
        .arg(root.join("hooks-sdk/wit"))
        .status()
        .expect("run jco");
    assert!(
        status.success(),
        "jco failed to write the contract's TypeScript types"
    );
    consts
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
