#!/usr/bin/env bash
# Installs what building edge-proxy needs on a fresh Debian/Ubuntu machine that has rustup:
# the Rust toolchain rust-toolchain.toml pins, cmake (Pingora builds zlib-ng with it) and the
# wasm32-wasip2 target (WebAssembly hooks).
# Safe to run again: it only installs what is missing.
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Node.js and npm build JavaScript hooks (hooks-js/, componentize-js).
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# nats-server: the event queue's JetStream backend, which the tests run against a real server.
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
# `setup.sh --bench`: also the peers and load generator of benches/load.sh, and valgrind for
# benches/instructions.sh. `setup.sh --pgo`: the same, for benches/pgo.sh's training runs.
if [ "${1:-}" = "--bench" ] || [ "${1:-}" = "--pgo" ]; then
  command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
  command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
  [ -e /usr/lib/nginx/modules/ngx_http_js_module.so ] || need_apt+=(libnginx-mod-http-js)
  command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
  command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
  # The toolchain rust-toolchain.toml pins, with its target and components: rustup 1.28 and
  # later no longer install it on first use.
  channel="$(sed -n 's/^channel = "\(.*\)"$/\1/p' "$(dirname "$0")/../rust-toolchain.toml")"
  if ! rustup toolchain list | grep -q "^$channel-"; then
    echo "setup: installing the Rust $channel toolchain" >&2
    rustup toolchain install "$channel" --profile minimal -c rustfmt -c clippy -t wasm32-wasip2
  fi
  if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target" >&2
    rustup target add wasm32-wasip2
  fi
  # `make lint` (run by CI): rustfmt and clippy, absent from rustup's minimal profile.
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
      echo "setup: adding the $component component" >&2
      rustup component add "$component"
    fi
  done
else
  echo "setup: rustup not found; install Rust from https://rustup.rs first" >&2
  exit 1
fi

# `setup.sh --pgo`: llvm-profdata (rustup's llvm-tools), which merges the training profiles.
if [ "${1:-}" = "--pgo" ] && ! rustup component list --installed | grep -q '^llvm-tools'; then
  echo "setup: adding the llvm-tools component (for profile-guided builds)" >&2
  rustup component add llvm-tools
fi

# `setup.sh --fuzz`: cargo-fuzz and the nightly toolchain it needs (libFuzzer and sanitizers).
if [ "${1:-}" = "--fuzz" ]; then
  if ! rustup toolchain list | grep -q '^nightly'; then
    echo "setup: adding the nightly Rust toolchain (for cargo fuzz)" >&2
    rustup toolchain install nightly --profile minimal
  fi
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "setup: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
  fi
fi

# componentize-py builds the Python sample hook (sample-hooks/python-bot-block) into a
# component; it lives in a virtualenv under target/ so nothing is installed system-wide.
# apig-wsgi (in the same virtualenv) is the third-party ALB adapter the function-target tests
# run behind a Lambda Invoke API endpoint.
COMPONENTIZE_PY_VERSION=0.25.1
APIG_WSGI_VERSION=2.20.0
venv="$(dirname "$0")/../target/py"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION" \
   || ! "$venv/bin/python" -c "import apig_wsgi" 2>/dev/null; then
  echo "setup: installing componentize-py $COMPONENTIZE_PY_VERSION and apig-wsgi $APIG_WSGI_VERSION into target/py" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION" "apig-wsgi==$APIG_WSGI_VERSION"
fi

# componentize-js (and jco, for the WIT's TypeScript types) build JavaScript hooks; installed
# from hooks-js/package-lock.json into hooks-js/node_modules, again whenever the lock changes.
js="$(dirname "$0")/../hooks-js"
if [ ! -e "$js/node_modules/.package-lock.json" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  echo "setup: installing componentize-js and jco into hooks-js/node_modules" >&2
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi
