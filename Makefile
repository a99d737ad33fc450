# The README's two commands. Each installs what is missing first (scripts/setup.sh).
CARGO ?= cargo
CONF ?= conf/edge.toml

.PHONY: setup run test check lint bench

setup:
	@./scripts/setup.sh

## make run: build (release) and start the proxy on conf/edge.toml.
run: setup
	$(CARGO) build --locked --release -p edge-proxy
	./target/release/edge-proxy run --conf $(CONF)

## make test: every test — unit tests and the end-to-end suite over real sockets.
test: setup
	$(CARGO) build --locked -p edge-proxy
	$(CARGO) test --locked --workspace

## make check: validate every configuration file in conf/.
check: setup
	$(CARGO) build --locked -p edge-proxy
	@for f in conf/*.toml; do ./target/debug/edge-proxy check --conf $$f || exit 1; done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
