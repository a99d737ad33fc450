//! The `edge-proxy` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_CONF: &str = "conf/edge.toml";

/// edge-proxy: an edge HTTP reverse proxy with CloudFront-style behaviors and origins.
#[derive(Debug, Parser)]
#[command(
    name = "edge-proxy",
    version,
    about,
    after_help = "Examples:\n  edge-proxy run                          # serve with conf/edge.toml\n  edge-proxy run --conf /etc/edge.toml\n  edge-proxy run --watch                  # reload when the config or a module changes\n  edge-proxy check --conf conf/edge.toml  # validate, print every error, exit non-zero on any\n  edge-proxy reload --conf conf/edge.toml # the running node reloads (or says why not)\n  edge-proxy invoke --function hook.wasm --event viewer-request.json --env KEY=value\n  edge-proxy new my-hook --lang rust --trigger viewer-request  # also --lang python, js"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the proxy. SIGHUP reloads the configuration, SIGTERM stops after requests in
    /// flight, SIGQUIT hands the listening sockets to a process started with `--upgrade`.
    Run {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
        /// Reload whenever the configuration file or a module it names changes.
        #[arg(long)]
        watch: bool,
        /// Binary upgrade: take the listening sockets from the running process (send it SIGQUIT
        /// once this one waits) instead of binding them.
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a configuration file and compile its modules, as a reload would, and exit: 0
    /// when valid, 1 with every error listed otherwise.
    Check {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
    },
    /// Ask the running node (through its admin listener and `admin.token`) to reload its
    /// configuration and modules; exit 1 with the reasons when it keeps the old ones.
    Reload {
        /// Configuration file of the running node.
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
    },
    /// Run one function on an AWS-shaped Lambda@Edge event, with the proxy's limits and
    /// validation; print the result JSON (exit 0) or the error and the status the proxy would
    /// return (exit 1).
    Invoke(crate::invoke::InvokeArgs),
    /// Write a new hook project (Rust, Python or JavaScript) with a working example for its
    /// trigger, a test on AWS's sample event, the build command and a config that serves it.
    New(crate::new_hook::NewArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { conf } => {
            crate::observe::init_logging();
            match check(&conf) {
                Ok(()) => {
                    println!("{}: ok", conf.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Reload { conf } => crate::reload_command::run(&conf),
        Command::Invoke(args) => crate::invoke::run(args),
        Command::New(args) => crate::new_hook::run(args),
        Command::Run {
            conf,
            watch,
            upgrade,
        } => {
            crate::observe::init_logging();
            let config = match Config::load(&conf) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let listeners: Vec<String> = config
                .listeners
                .iter()
                .map(|l| {
                    format!(
                        "{}://{}",
                        if l.tls.is_some() { "https" } else { "http" },
                        l.address
                    )
                })
                .collect();
            let admin = config.admin.address;
            let mode = crate::server::StartMode { upgrade };
            let server = match crate::server::build(&conf, config, mode, watch) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("edge-proxy: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            tracing::info!(conf = %conf.display(), listeners = ?listeners, admin = %admin, "edge-proxy started");
            // As `run_forever`, with the access log's last lines written before the exit.
            server.run(pingora::server::RunArgs::default());
            crate::observe::flush_access_log();
            std::process::exit(0)
        }
    }
}

/// What `check` does: the configuration validated, then every module read and compiled and every
/// origin set up, exactly as a start or reload would.
fn check(conf: &Path) -> Result<(), String> {
    let config = Config::load(conf).map_err(|e| e.to_string())?;
    let text = std::fs::read(conf).map_err(|e| format!("{}: {e}", conf.display()))?;
    let cache = crate::hooks::compiled_cache(config.node.module_cache.as_deref());
    crate::node::Generation::build(1, config, &text, None, cache.as_ref())
        .map(|_| ())
        .map_err(|e| format!("{}: {e:#}", conf.display()))
}
