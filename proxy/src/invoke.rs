//! `edge-proxy invoke`: one function, one event, no proxy — like `sam local invoke`, with the
//! same limits, validation and error statuses the proxy applies. A Lambda@Edge event runs a
//! hook; an ALB event runs an ALB target function.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::{FunctionConfig, HookNodeSettings, Isolation};
use crate::hooks::{HookError, HookRegistry, Trigger};
use crate::lambda::{self, TargetGroupSettings};
use edge_event::{limits, CfEvent};

/// Arguments of `edge-proxy invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function's component (`.wasm`).
    #[arg(long)]
    function: PathBuf,
    /// The function's name in logs and errors, as in the config's `[functions.<name>]`
    /// (default: the file's name without `.wasm`).
    #[arg(long)]
    name: Option<String>,
    /// The event: a Lambda@Edge event (`{"Records":[{"cf":…}]}`) for a hook, or an ALB event
    /// for an ALB target function.
    #[arg(long)]
    event: PathBuf,
    /// An environment variable for the function (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Memory limit, MB.
    #[arg(long, default_value_t = limits::DEFAULT_MEMORY_MB)]
    memory_mb: u64,
    /// Timeout, ms (default: the trigger's, 5000 viewer / 30000 origin).
    #[arg(long)]
    timeout_ms: Option<u64>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("\"{s}\" is not KEY=VALUE"))
}

/// Runs the command.
pub fn run(args: InvokeArgs) -> ExitCode {
    // The function's stdout/stderr is logged like in the proxy, to stderr.
    crate::observe::init_logging();
    let text = match std::fs::read_to_string(&args.event) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", args.event.display());
            return ExitCode::FAILURE;
        }
    };
    // An ALB event (no `Records`) goes to an ALB target function.
    let is_edge_event = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| v.get("Records").is_some())
        .unwrap_or(true);
    let name = args.name.clone().unwrap_or_else(|| {
        args.function
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into())
    });
    let config = FunctionConfig {
        name,
        module: args.function.clone(),
        memory_mb: args.memory_mb,
        timeout_ms: args.timeout_ms,
        env: args.env,
        isolation: Isolation::PerRequest,
        max_concurrency: 1,
        max_invocations: 1,
        idle_timeout: Duration::from_secs(1),
        cpu_budget_ms: None,
    };
    // The node's default compiled-module cache: a module run before loads in milliseconds.
    let cache = crate::hooks::compiled_cache(crate::config::default_module_cache().as_deref());
    let registry = match HookRegistry::build(
        std::slice::from_ref(&config),
        &HookNodeSettings::default(),
        None,
        cache.as_ref(),
    ) {
        Ok((r, _)) => r,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let function = registry.get(&config.name).expect("just loaded");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (result, report) = if is_edge_event {
        let mut event = match CfEvent::from_aws_json(&text) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{}: {e}", args.event.display());
                return ExitCode::FAILURE;
            }
        };
        limits::hide_disallowed(&mut event);
        let (result, report) = runtime.block_on(function.invoke(event));
        (result.map(|v| v.outcome.to_json()), report)
    } else {
        let timeout = Duration::from_millis(args.timeout_ms.unwrap_or(30_000));
        let (result, report) = runtime.block_on(function.invoke_json(
            "invoke",
            text.clone().into_bytes(),
            timeout,
            "invoke",
        ));
        let checked = result.and_then(|bytes| {
            let settings = TargetGroupSettings {
                target_group_arn: String::new(),
                multi_value_headers: text.contains("\"multiValueHeaders\""),
                payload: lambda::Payload::Alb,
            };
            lambda::response_from_result(&bytes, &settings)
                .map_err(|reason| HookError::Invalid {
                    function: config.name.clone(),
                    trigger: Trigger::TargetGroup("invoke".into()),
                    reason,
                })
                .and_then(|_| {
                    serde_json::from_slice(&bytes).map_err(|e| HookError::Invalid {
                        function: config.name.clone(),
                        trigger: Trigger::TargetGroup("invoke".into()),
                        reason: e.to_string(),
                    })
                })
        });
        (checked, report)
    };
    if let Some(r) = report {
        eprintln!("{}", r.line(None));
    }
    match result {
        Ok(outcome) => {
            println!("{}", serde_json::to_string_pretty(&outcome).expect("json"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("the proxy would return status {}", e.status());
            ExitCode::FAILURE
        }
    }
}
