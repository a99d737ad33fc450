//! The `edge-proxy` command line.

use std::path::PathBuf;
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
    after_help = "Examples:\n  edge-proxy run                          # serve with conf/edge.toml\n  edge-proxy run --conf /etc/edge.toml\n  edge-proxy check --conf conf/edge.toml  # validate, print every error, exit non-zero on any\n  edge-proxy invoke --function hook.wasm --event viewer-request.json --env KEY=value"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the proxy.
    Run {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
    },
    /// Validate a configuration file and exit: 0 when valid, 1 with every error listed otherwise.
    Check {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
    },
    /// Run one function on an AWS-shaped Lambda@Edge event, with the proxy's limits and
    /// validation; print the result JSON (exit 0) or the error and the status the proxy would
    /// return (exit 1).
    Invoke(crate::invoke::InvokeArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { conf } => match Config::load(&conf) {
            Ok(_) => {
                println!("{}: ok", conf.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Invoke(args) => crate::invoke::run(args),
        Command::Run { conf } => {
            init_tracing();
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
            let admin = config.admin;
            let server = match crate::server::build(config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("edge-proxy: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            tracing::info!(conf = %conf.display(), listeners = ?listeners, admin = %admin, "edge-proxy started");
            server.run_forever()
        }
    }
}

/// Operational logs go to stderr (stdout carries the access log), filtered by `RUST_LOG`.
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
