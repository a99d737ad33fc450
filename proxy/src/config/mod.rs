//! Configuration: the TOML file (`raw.rs`) parsed strictly, then each section checked by its
//! own file and turned into the model (`model.rs`) the server is built from. A file that fails
//! any check yields a [`ConfigError`] listing every problem with file, line and key; nothing
//! half-valid is ever returned.

mod behaviors;
mod cache;
mod error;
mod event_model;
mod functions;
mod limits;
mod listeners;
mod log_field;
mod model;
mod node;
mod origins;
mod pattern;
mod queue;
mod raw;
mod realtime_logs;
mod restart;
mod structure;
mod values;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigIssue};
pub use event_model::*;
pub use log_field::LogField;
pub use model::*;
pub use node::{default_module_cache, AdminSettings, HookNodeSettings, NodeSettings};
pub use pattern::Pattern;
pub use queue::is_queue_name;
pub use restart::restart_only_changes;

use error::IssueSink;
use raw::RawConfig;

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            issues: vec![ConfigIssue {
                line: None,
                key: String::new(),
                message: format!("cannot read file: {e}"),
            }],
        })?;
        Self::parse(path, &text)
    }

    /// Validates `text` as if read from `path`: every structural and semantic problem listed.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut sink = IssueSink::new(text);
        let Some(parsed) = structure::parse(text, &mut sink) else {
            sink.finish(path)?;
            unreachable!("a file that is not TOML has issues");
        };
        let structural = sink.len();
        let config = build(parsed.raw, path, &base, &mut sink);
        sink.forget_mentions(structural, &parsed.broken);
        sink.finish(path)?;
        Ok(config)
    }

    /// The behavior matching `host` and `path`, in order, falling back to the default.
    pub fn behavior_for(&self, host: &str, path: &str) -> &Behavior {
        self.behaviors
            .iter()
            .find(|b| b.host.as_ref().is_none_or(|h| h.matches(host)) && b.path.matches(path))
            .unwrap_or_else(|| {
                self.behaviors
                    .last()
                    .expect("default behavior is always present")
            })
    }
}

/// Checks every section of `raw`, recording each problem in `sink`.
fn build(raw: RawConfig, path: &Path, base: &Path, sink: &mut IssueSink) -> Config {
    if *raw.version.get_ref() != CONFIG_VERSION {
        sink.at(
            Some(raw.version.span()),
            "version",
            format!(
                "unsupported version {}, expected {CONFIG_VERSION}",
                raw.version.get_ref()
            ),
        );
    }
    // Sections in file order, so problems are listed in the order a reader meets them.
    let listeners = listeners::listeners(&raw.listeners, base, sink);
    let admin = node::admin_settings(raw.admin.as_ref(), sink);
    let limits = limits::limits(raw.limits.as_ref(), sink);
    let node = node::node_settings(raw.node.as_ref(), &admin, base, sink);
    let origins = origins::origins(&raw.origins, base, sink);
    let functions = functions::functions(&raw.functions, base, sink);
    origins::check_target_groups(&origins, &raw.origins, &raw.functions, sink);
    queue::check_destinations(&raw.origins, &raw.functions, sink);
    let behaviors = behaviors::behaviors(&raw, &origins, sink);
    Config {
        source: path.to_path_buf(),
        listeners,
        admin,
        limits,
        node,
        origins,
        functions,
        behaviors,
        cache: cache::cache_settings(raw.cache.as_ref(), sink),
        queue: queue::queue_settings(raw.queue.as_ref(), base, sink),
        realtime_logs: realtime_logs::realtime_logs(
            raw.realtime_logs.as_ref(),
            &raw.functions,
            sink,
        ),
    }
}

/// A small valid file (one listener, a `files` origin on `.`, the default behavior) with
/// `extra` appended, parsed: each section's tests start from it.
#[cfg(test)]
fn parse_with(extra: &str) -> Result<Config, ConfigError> {
    let text = format!(
        "version = 1\n[[listeners]]\naddress = \"127.0.0.1:8080\"\n[origins.site]\ntype = \"files\"\nroot = \".\"\n[default-behavior]\norigin = \"site\"\n{extra}"
    );
    Config::parse(Path::new("t.toml"), &text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_smallest_file_is_valid() {
        let config = super::parse_with("").expect("valid");
        assert_eq!(config.listeners.len(), 1);
        assert_eq!(config.behaviors.len(), 1);
    }
}
