//! `edge-proxy reload`: asks the running node to reload, through its admin listener, and
//! reports what it did or why it kept its configuration.

use std::path::Path;
use std::process::ExitCode;

/// Reads the admin address and token from `conf` (only those: the node validates the rest, with
/// its own environment) and posts `/reload`.
pub fn run(conf: &Path) -> ExitCode {
    let (address, token) = match admin_of(conf) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{}: {e}", conf.display());
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("edge-proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("http://{address}/reload");
    let answer = runtime.block_on(async {
        let mut request = reqwest::Client::new().post(&url);
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        Ok::<_, reqwest::Error>((status, response.text().await?))
    });
    let (status, body) = match answer {
        Ok(a) => a,
        Err(e) => {
            eprintln!("edge-proxy: cannot reach the node's admin listener at {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if status.is_success() {
        println!(
            "{}: reloaded: generation {}, config {}; functions kept warm: {}; loaded: {}",
            conf.display(),
            json["generation"],
            json["hash"].as_str().unwrap_or(""),
            list(&json["kept"]),
            list(&json["loaded"]),
        );
        ExitCode::SUCCESS
    } else {
        match json["error"].as_str() {
            Some(error) => eprintln!("{error}"),
            None => eprintln!("edge-proxy: the node answered {status}: {body}"),
        }
        if status == reqwest::StatusCode::FORBIDDEN {
            eprintln!(
                "edge-proxy: without admin.token, reload with SIGHUP: kill -HUP <pid> (http://{address}/healthz shows the pid)"
            );
        }
        eprintln!("edge-proxy: not reloaded; the node keeps serving its configuration");
        ExitCode::FAILURE
    }
}

fn list(v: &serde_json::Value) -> String {
    let names: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `[admin] address` and the token (`token`, or the variable `token-env` names).
fn admin_of(conf: &Path) -> Result<(String, Option<String>), String> {
    let text = std::fs::read_to_string(conf).map_err(|e| format!("cannot read file: {e}"))?;
    let value: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    let admin = value.get("admin").and_then(|a| a.as_table());
    let field = |key: &str| admin.and_then(|a| a.get(key)).and_then(|v| v.as_str());
    let address = field("address").unwrap_or("127.0.0.1:9080").to_string();
    let token =
        match (field("token"), field("token-env")) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                format!("admin.token-env: environment variable {var} is not set here")
            })?),
            (None, None) => None,
        };
    Ok((address, token))
}
