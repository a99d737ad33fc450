//! `[functions.NAME]`: each hook or target function's module and Lambda-style settings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::error::IssueSink;
use super::model::{FunctionConfig, Isolation};
use super::raw::RawFunction;
use super::values::{existing_file, in_range};

/// The functions, in name order.
pub(super) fn functions(
    raw: &BTreeMap<String, RawFunction>,
    base: &Path,
    sink: &mut IssueSink,
) -> Vec<FunctionConfig> {
    let mut functions = Vec::new();
    for (name, f) in raw {
        let key = format!("functions.{name}");
        let module = existing_file(&f.module, base, &format!("{key}.module"), sink);
        let memory_mb = f
            .memory_mb
            .as_ref()
            .and_then(|v| in_range(v, 1, 10_240, &format!("{key}.memory-mb"), sink))
            .map(|n| n as u64)
            .unwrap_or(edge_event::limits::DEFAULT_MEMORY_MB);
        let timeout_ms = f
            .timeout_ms
            .as_ref()
            .and_then(|v| in_range(v, 1, 900_000, &format!("{key}.timeout-ms"), sink))
            .map(|n| n as u64);
        let isolation = match f.isolation.as_ref().map(|i| i.get_ref().as_str()) {
            None | Some("warm") => Isolation::Warm,
            Some("per-request") => Isolation::PerRequest,
            Some(other) => {
                sink.at(
                    f.isolation.as_ref().map(|i| i.span()),
                    format!("{key}.isolation"),
                    format!("unknown isolation \"{other}\", expected \"warm\" or \"per-request\""),
                );
                Isolation::Warm
            }
        };
        let max_concurrency = f
            .max_concurrency
            .as_ref()
            .and_then(|v| in_range(v, 1, 1000, &format!("{key}.max-concurrency"), sink))
            .unwrap_or(64) as usize;
        let max_invocations = f
            .max_invocations
            .as_ref()
            .and_then(|v| in_range(v, 1, i64::MAX, &format!("{key}.max-invocations"), sink))
            .unwrap_or(100_000) as u64;
        let idle_timeout = f
            .idle_timeout_ms
            .as_ref()
            .and_then(|v| in_range(v, 1, 86_400_000, &format!("{key}.idle-timeout-ms"), sink))
            .map(|n| Duration::from_millis(n as u64))
            .unwrap_or(Duration::from_secs(300));
        let cpu_budget_ms = f
            .cpu_budget_ms
            .as_ref()
            .and_then(|v| in_range(v, 1, 900_000, &format!("{key}.cpu-budget-ms"), sink))
            .map(|n| n as u64);
        functions.push(FunctionConfig {
            name: name.clone(),
            module,
            memory_mb,
            timeout_ms,
            env: f.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            isolation,
            max_concurrency,
            max_invocations,
            idle_timeout,
            cpu_budget_ms,
        });
    }
    functions
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;
    use super::*;

    #[test]
    fn lambda_defaults_apply_to_unset_settings() {
        // A module path that exists (this file), so only the settings are checked.
        let config = parse_with(
            "[functions.f]\nmodule = \"src/config/functions.rs\"\nisolation = \"per-request\"\n",
        )
        .expect("valid");
        let f = &config.functions[0];
        assert_eq!(f.name, "f");
        assert_eq!(f.memory_mb, edge_event::limits::DEFAULT_MEMORY_MB);
        assert_eq!(f.timeout_ms, None, "the trigger's default applies");
        assert_eq!(f.isolation, Isolation::PerRequest);
        assert_eq!(f.idle_timeout, Duration::from_secs(300));
        assert_eq!(f.cpu_budget_ms, None, "only the timeout bounds CPU");
    }
}
