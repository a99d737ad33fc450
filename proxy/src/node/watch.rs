//! `run --watch`: reload when the configuration file or a module it names changes — the loop
//! an author wants while editing a hook.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Node;

/// How often files are looked at.
const POLL: Duration = Duration::from_millis(250);

/// What a file looked like: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

/// Watches `node`'s configuration file and modules on a thread of its own.
pub fn watch(node: Arc<Node>) {
    std::thread::Builder::new()
        .name("edge-watch".into())
        .spawn(move || {
            tracing::info!(conf = %node.conf().display(), "watching the configuration and its modules for changes");
            let mut seen = stamps(&node);
            let mut pending: Option<Vec<(PathBuf, Stamp)>> = None;
            loop {
                std::thread::sleep(POLL);
                let now = stamps(&node);
                if now == seen {
                    pending = None;
                    continue;
                }
                // A build or an editor may still be writing: act once two looks agree.
                if pending.as_ref() != Some(&now) {
                    pending = Some(now);
                    continue;
                }
                let changed: Vec<String> = now
                    .iter()
                    .filter(|(path, stamp)| {
                        seen.iter().find(|(p, _)| p == path).map(|(_, s)| s) != Some(stamp)
                    })
                    .map(|(path, _)| path.display().to_string())
                    .collect();
                tracing::info!(changed = ?changed, "files changed; reloading");
                // A failed reload has logged why; the files are watched on.
                let _ = node.reload();
                seen = stamps(&node);
                pending = None;
            }
        })
        .expect("spawn watch thread");
}

/// The configuration file, every module of the generation in service, and every module the
/// file names now (so a reload that failed on a module not built yet is retried once it is).
fn stamps(node: &Node) -> Vec<(PathBuf, Stamp)> {
    let conf = node.conf();
    let mut paths: Vec<PathBuf> = std::iter::once(conf.to_path_buf())
        .chain(
            node.current()
                .config
                .functions
                .iter()
                .map(|f| f.module.clone()),
        )
        .chain(modules_named(conf))
        .collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|path| {
            let stamp = std::fs::metadata(&path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (path, stamp)
        })
        .collect()
}

/// `functions.*.module` of the file as it is now, when it parses as TOML.
fn modules_named(conf: &Path) -> Vec<PathBuf> {
    let base = conf.parent().unwrap_or(Path::new("."));
    let Some(table) = std::fs::read_to_string(conf)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
    else {
        return Vec::new();
    };
    table
        .get("functions")
        .and_then(|f| f.as_table())
        .into_iter()
        .flat_map(|functions| functions.values())
        .filter_map(|f| f.get("module")?.as_str())
        .map(|m| base.join(m))
        .collect()
}
