//! Golden tests for configuration errors: each `tests/config-errors/NAME.toml` breaks rules of
//! one section, and `NAME.errors` is exactly what `edge-proxy check` prints for it — every
//! problem, in file order, as `file:line: key: message`. A change to a message, a line number
//! or the order shows up here as a diff. After an intended change, regenerate with
//! `BLESS=1 cargo test -p edge-proxy --test config_errors` and review the diff.

use std::path::{Path, PathBuf};

use edge_proxy::config::Config;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config-errors");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/config-errors")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_section_reports_each_problem_with_line_and_key() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 8, "a golden file per section");
    for case in cases {
        let name = case.file_name().expect("file name");
        let text = std::fs::read_to_string(&case).expect("read case");
        // Parsed as if from a bare file name, so messages do not depend on the checkout path.
        let got = match Config::parse(Path::new(name), &text) {
            Ok(_) => "(accepted)\n".to_string(),
            Err(e) => format!("{e}\n"),
        };
        let golden = case.with_extension("errors");
        if bless {
            std::fs::write(&golden, &got).expect("write golden file");
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                golden.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
