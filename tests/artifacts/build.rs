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
    "fixture-trap",
    "fixture-spin",
    "fixture-memory-bomb",
    "fixture-invalid-header",
    "fixture-oversized-response",
    "fixture-probe",
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
    std::fs::write(out.join("guests.rs"), consts).unwrap();
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
