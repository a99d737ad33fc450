//! Replays every fuzz seed, corpus entry and crash artifact (and AWS's sample vectors) through
//! the fuzz targets' bodies, so what `make fuzz` once found stays a regression test.

use std::path::{Path, PathBuf};

/// Files fed to `target`: `fuzz/seeds/<target>`, `fuzz/corpus/<target>`,
/// `fuzz/artifacts/<target>`, and the vectors in `tests/vectors` whose names start with one of
/// `vectors`.
fn inputs(target: &str, vectors: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["fuzz/seeds", "fuzz/corpus", "fuzz/artifacts"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    let vector_dir = root.join("tests/vectors");
    for entry in std::fs::read_dir(&vector_dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if vectors.iter().any(|v| name.starts_with(v)) {
            files.push(entry.path());
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no inputs for {target}");
    files
}

fn replay(target: &str, vectors: &[&str], run: fn(&[u8])) {
    for file in inputs(target, vectors) {
        // A running `make fuzz` rewrites its working corpus: a file gone since the listing is
        // skipped.
        let Ok(data) = std::fs::read(&file) else {
            continue;
        };
        // A panic names the input that caused it.
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", file.display());
    }
}

#[test]
fn cf_event_json() {
    replay(
        "cf_event_json",
        &["cf-", "cff-"],
        edge_proxy::fuzzing::cf_event_json,
    );
}

#[test]
fn function_result() {
    replay(
        "function_result",
        &["alb-response", "apigw-"],
        edge_proxy::fuzzing::function_result,
    );
}

#[test]
fn hook_outcome() {
    replay("hook_outcome", &[], edge_proxy::fuzzing::hook_outcome);
}

#[test]
fn path() {
    replay("path", &[], edge_proxy::fuzzing::path);
}

#[test]
fn cache_key() {
    replay("cache_key", &[], edge_proxy::fuzzing::cache_key);
}

#[test]
fn host() {
    replay("host", &[], edge_proxy::fuzzing::host);
}
