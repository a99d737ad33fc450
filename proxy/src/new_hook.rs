//! `edge-proxy new`: a ready hook project in Rust, Python or JavaScript, outside this repository:
//! a working example for its trigger, a test on AWS's sample event, the build command, and a
//! config that serves it (`edge-proxy run --conf edge.toml`), so a first hook takes minutes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use edge_event::EventType;

/// Arguments of `edge-proxy new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The hook's name (letters, digits, `-`, `_`): its directory, package and function name.
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// The trigger it is written for.
    #[arg(long, value_parser = parse_trigger, default_value = "viewer-request")]
    trigger: EventType,
    /// Where to write the project (default: `./<name>`); must not exist or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The languages a hook can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

fn parse_trigger(s: &str) -> Result<EventType, String> {
    EventType::parse(s).ok_or_else(|| {
        format!("\"{s}\" is not viewer-request, origin-request, origin-response or viewer-response")
    })
}

/// Writes the project and says what to run next.
pub fn run(args: NewArgs) -> ExitCode {
    match write(&args) {
        Ok(dir) => {
            println!("{}", next_steps(&args, &dir));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edge-proxy new: {e}");
            ExitCode::FAILURE
        }
    }
}

/// This checkout's root: the SDK, the JavaScript build and the WIT contract the project uses.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the proxy crate is inside the repository")
        .to_path_buf()
}

fn write(args: &NewArgs) -> Result<PathBuf, String> {
    let name = &args.name;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        || !name.as_bytes()[0].is_ascii_alphabetic()
    {
        return Err(format!(
            "\"{name}\" must start with a letter and hold only letters, digits, '-' and '_'"
        ));
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    let dir_abs = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join(&dir);
    let repo = repository();
    let request = args.trigger.is_request();
    let wasm = match args.lang {
        Lang::Rust => format!(
            "target/wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ),
        Lang::Python | Lang::Js => format!("{}.wasm", name.replace('-', "_")),
    };
    let vars = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{trigger}}", args.trigger.as_str())
            .replace("{{trigger_fn}}", &args.trigger.as_str().replace('-', "_"))
            .replace("{{sdk}}", &repo.join("hooks-sdk").display().to_string())
            .replace("{{repo}}", &repo.display().to_string())
            .replace("{{wasm}}", &wasm)
            .replace(
                "{{edge_proxy}}",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "edge-proxy".into()),
            )
            .replace("{{dir}}", &dir_abs.display().to_string())
    };
    let mut files: Vec<(&str, String)> = vec![
        ("edge.toml", vars(CONFIG)),
        ("site/index.html", "<h1>the site's root</h1>\n".into()),
        (
            "site/fr/index.html",
            "<h1>la racine en français</h1>\n".into(),
        ),
        ("event.json", sample_event(args.trigger)),
        ("README.md", vars(&readme(args.lang))),
    ];
    match args.lang {
        Lang::Rust => {
            files.push(("Cargo.toml", vars(RUST_CARGO)));
            files.push((
                "src/lib.rs",
                vars(if request { RUST_REQUEST } else { RUST_RESPONSE }),
            ));
        }
        Lang::Python => {
            files.push((
                "app.py",
                vars(if request { PY_REQUEST } else { PY_RESPONSE }),
            ));
            files.push(("build.sh", vars(PY_BUILD)));
            files.push(("test.sh", vars(&test_script(request))));
        }
        Lang::Js => {
            files.push((
                "index.js",
                vars(if request { JS_REQUEST } else { JS_RESPONSE }),
            ));
            files.push(("build.sh", vars(JS_BUILD)));
            files.push(("test.sh", vars(&test_script(request))));
        }
    }
    for (path, text) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    Ok(dir)
}

/// AWS's sample event for `trigger`; request triggers get `?lang=fr&page=2` to work on.
fn sample_event(trigger: EventType) -> String {
    let text = match trigger {
        EventType::ViewerRequest => include_str!("../../tests/vectors/cf-viewer-request.json"),
        EventType::OriginRequest => include_str!("../../tests/vectors/cf-origin-request.json"),
        EventType::OriginResponse => include_str!("../../tests/vectors/cf-origin-response.json"),
        EventType::ViewerResponse => include_str!("../../tests/vectors/cf-viewer-response.json"),
    };
    let mut event: serde_json::Value = serde_json::from_str(text).expect("the samples are JSON");
    if trigger.is_request() {
        event["Records"][0]["cf"]["request"]["querystring"] = "lang=fr&page=2".into();
    }
    serde_json::to_string_pretty(&event).expect("serializes") + "\n"
}

fn next_steps(args: &NewArgs, dir: &Path) -> String {
    let build = match args.lang {
        Lang::Rust => "cargo test && cargo build --release --target wasm32-wasip2",
        Lang::Python | Lang::Js => "./build.sh && ./test.sh",
    };
    format!(
        "wrote a {} {} hook in {}\nnext:\n  cd {}\n  {build}\n  edge-proxy run --conf edge.toml   # then: curl 'http://127.0.0.1:8080/?lang=fr'\n(README.md has the rest)",
        match args.lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        },
        args.trigger.as_str(),
        dir.display(),
        dir.display()
    )
}

/// The check a Python or JavaScript project runs on its component: `invoke` on `event.json`,
/// the result compared with what the example does.
fn test_script(request: bool) -> String {
    let expect = if request {
        r#"grep -q '"uri": "/fr/"' "$out" && grep -q '"querystring": "page=2"' "$out""#
    } else {
        r#"grep -q '"x-frame-options"' "$out" && grep -q '"DENY"' "$out""#
    };
    format!(
        r#"#!/bin/sh
# Runs the hook on event.json (AWS's sample event for its trigger) with the proxy's own limits and
# validation, and checks the result.
set -e
cd "$(dirname "$0")"
out=$(mktemp)
"${{EDGE_PROXY:-{{{{edge_proxy}}}}}}" invoke --name {{{{name}}}} --function {{{{wasm}}}} --event event.json > "$out"
if {expect}; then echo "ok: {{{{name}}}} passed on event.json"; rm -f "$out"; else cat "$out"; rm -f "$out"; exit 1; fi
"#
    )
}

fn readme(lang: Lang) -> String {
    let (build, test) = match lang {
        Lang::Rust => (
            "cargo build --release --target wasm32-wasip2   # rustup target add wasm32-wasip2",
            "cargo test                                     # native, with the proxy's validation",
        ),
        Lang::Python => (
            "./build.sh     # componentize-py (pip install componentize-py)",
            "./test.sh      # edge-proxy invoke on event.json",
        ),
        Lang::Js => (
            "./build.sh     # componentize-js, from the edge-proxy checkout (make setup)",
            "./test.sh      # edge-proxy invoke on event.json",
        ),
    };
    format!(
        r#"# {{{{name}}}}

An edge-proxy hook for **{{{{trigger}}}}**, written by `edge-proxy new`.

```sh
{build}
{test}
edge-proxy invoke --name {{{{name}}}} --function {{{{wasm}}}} --event event.json
edge-proxy run --conf edge.toml
curl -i 'http://127.0.0.1:8080/?lang=fr'
```

`edge.toml` serves `site/` (a `files` origin) with this hook at {{{{trigger}}}}; `event.json` is
AWS's sample event for the trigger. Writing hooks: `{{{{repo}}}}/docs/hooks.md`.
"#
    )
}

const CONFIG: &str = r#"# Serves site/ with the hook {{name}} at {{trigger}}: edge-proxy run --conf edge.toml
version = 1

[[listeners]]
address = "127.0.0.1:8080"

[origins.site]
type = "files"
root = "site"
index = "index.html"

[functions.{{name}}]
module = "{{wasm}}"

[default-behavior]
origin = "site"

[default-behavior.hooks]
{{trigger}} = { function = "{{name}}" }
"#;

const RUST_CARGO: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
edge-hooks = { path = "{{sdk}}" }

[profile.release]
opt-level = "s"
lto = true
strip = true

# Its own workspace, wherever it is written.
[workspace]
"#;

const RUST_REQUEST: &str = r#"//! {{name}} ({{trigger}}): moves `?lang=xx` into the path (`/docs?lang=fr&page=2` →
//! `/fr/docs?page=2`), the other parameters kept.

use edge_hooks::{Event, Outcome};

pub fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    let mut request = event.request;
    let mut query = request.query();
    if let Some(lang) = query.get("lang") {
        query.remove("lang");
        let uri = format!("/{lang}{}", request.uri());
        request.set_uri(&uri);
        request.set_query(&query);
    }
    Ok(request.into())
}

edge_hooks::export_hook!(handler);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_lang_into_the_path() {
        let event = Event::{{trigger_fn}}("/docs?lang=fr&page=2");
        let Outcome::Request(request) = edge_hooks::run(handler, event).unwrap() else {
            panic!("a request");
        };
        assert_eq!(request.uri(), "/fr/docs");
        assert_eq!(request.querystring(), "page=2");
    }

    #[test]
    fn leaves_other_requests_alone() {
        let event = Event::{{trigger_fn}}("/docs?page=2");
        let Outcome::Request(request) = edge_hooks::run(handler, event).unwrap() else {
            panic!("a request");
        };
        assert_eq!(request.uri(), "/docs");
    }
}
"#;

const RUST_RESPONSE: &str = r#"//! {{name}} ({{trigger}}): adds `X-Frame-Options: DENY` to every response.

use edge_hooks::{Event, Outcome};

pub fn handler(event: Event) -> Result<Outcome, edge_hooks::Error> {
    let mut response = event.response.ok_or("{{name}} runs at a response trigger")?;
    response.headers.set("x-frame-options", "DENY");
    Ok(response.into())
}

edge_hooks::export_hook!(handler);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_header() {
        let event = Event::{{trigger_fn}}("/", 200);
        let Outcome::Response(response) = edge_hooks::run(handler, event).unwrap() else {
            panic!("a response");
        };
        assert_eq!(response.headers.first("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(response.status(), 200);
    }
}
"#;

const PY_REQUEST: &str = r#""""{{name}} ({{trigger}}): moves ?lang=xx into the path (/docs?lang=fr&page=2 -> /fr/docs?page=2).

The API is the WIT contract's (edge:hooks/types, see the edge-proxy checkout's
hooks-sdk/wit/hooks.wit), as componentize-py names it: handle gets the trigger and the event's
request (and, at response triggers, its response), lent for the call: resources whose fields are
methods (uri(), set_uri(), querystring(), headers()...). Return types.Outcome_Request() to go on
with the request as changed, types.Outcome_Generated(types.Response(status)) to answer, raise
Err("why") to fail (503).
"""
from urllib.parse import parse_qsl, quote, urlencode

from wit_world import WitWorld
from wit_world.imports import types


class WitWorld(WitWorld):
    def handle(
        self,
        event_type: types.EventType,
        request: types.Request,
        response: types.Response | None,
    ) -> types.Outcome:
        pairs = parse_qsl(request.querystring(), keep_blank_values=True)
        lang = next((value for key, value in pairs if key == "lang"), None)
        if lang:
            request.set_uri("/" + quote(lang) + request.uri())
            rest = [(key, value) for key, value in pairs if key != "lang"]
            request.set_querystring(urlencode(rest, quote_via=quote))
        return types.Outcome_Request()
"#;

const PY_RESPONSE: &str = r#""""{{name}} ({{trigger}}): adds X-Frame-Options: DENY to every response.

The API is the WIT contract's (edge:hooks/types, see the edge-proxy checkout's
hooks-sdk/wit/hooks.wit), as componentize-py names it: the event's response is lent for the call;
return types.Outcome_Response() to send it as changed.
"""
from componentize_py_types import Err
from wit_world import WitWorld
from wit_world.imports import types


class WitWorld(WitWorld):
    def handle(
        self,
        event_type: types.EventType,
        request: types.Request,
        response: types.Response | None,
    ) -> types.Outcome:
        if response is None:
            raise Err("{{name}} runs at a response trigger")
        response.headers().set("x-frame-options", [types.Header(key="X-Frame-Options", value="DENY")])
        return types.Outcome_Response()
"#;

const PY_BUILD: &str = r#"#!/bin/sh
# Builds app.py into {{wasm}} with componentize-py against edge-proxy's WIT contract.
set -e
cd "$(dirname "$0")"
COMPONENTIZE_PY=${COMPONENTIZE_PY:-$(command -v componentize-py || echo "{{repo}}/target/py/bin/componentize-py")}
"$COMPONENTIZE_PY" -d "{{repo}}/hooks-sdk/wit" -w hook componentize app -o {{wasm}}
"#;

const JS_REQUEST: &str = r#"// {{name}} ({{trigger}}): moves ?lang=xx into the path (/docs?lang=fr&page=2 -> /fr/docs?page=2).
// A Lambda@Edge handler as for Node.js (docs/hooks.md, "JavaScript"): return the request, or a
// response ({ status, headers, body }); a thrown error is a function error (503).
import { lambdaEdge } from 'edge-hooks';

export const handle = lambdaEdge((event) => {
  const request = event.Records[0].cf.request;
  const params = new URLSearchParams(request.querystring);
  const lang = params.get('lang');
  if (lang) {
    params.delete('lang');
    request.uri = `/${encodeURIComponent(lang)}${request.uri}`;
    request.querystring = params.toString();
  }
  return request;
});
"#;

const JS_RESPONSE: &str = r#"// {{name}} ({{trigger}}): adds X-Frame-Options: DENY to every response.
// A Lambda@Edge handler as for Node.js (docs/hooks.md, "JavaScript").
import { lambdaEdge } from 'edge-hooks';

export const handle = lambdaEdge((event) => {
  const response = event.Records[0].cf.response;
  response.headers['x-frame-options'] = [{ key: 'X-Frame-Options', value: 'DENY' }];
  return response;
});
"#;

const JS_BUILD: &str = r#"#!/bin/sh
# Builds index.js into {{wasm}} with componentize-js, from the edge-proxy checkout's hooks-js/
# (installed there by `make setup`).
set -e
cd "$(dirname "$0")"
node "{{repo}}/hooks-js/build.mjs" index.js {{wasm}}
"#;
