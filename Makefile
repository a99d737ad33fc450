# The README's two commands. Each installs what is missing first (scripts/setup.sh).
CARGO ?= cargo
CONF ?= conf/edge.toml

.PHONY: setup hooks run test check lint bench bench-instructions bench-invocations bench-builds bench-guests soak pgo fuzz

# The sample hooks conf/edge.toml uses, built for wasm32-wasip2 into target/guests (the same
# place the test build puts them).
SAMPLE_HOOKS := security-headers basic-auth redirects ab-test origin-select cache-control alb-hello collect log-counter

setup:
	@./scripts/setup.sh

hooks: setup
	$(CARGO) build --locked --profile guest --target wasm32-wasip2 --target-dir target/guests $(addprefix -p ,$(SAMPLE_HOOKS))
	@mkdir -p target/guests/python
	@if [ ! target/guests/python/python_bot_block.wasm -nt sample-hooks/python-bot-block/app.py ] \
	  || [ ! target/guests/python/python_bot_block.wasm -nt hooks-sdk/wit/hooks.wit ]; then \
	  target/py/bin/componentize-py -d hooks-sdk/wit -w hook componentize -p sample-hooks/python-bot-block app \
	    -o target/guests/python/python_bot_block.wasm; fi
	@mkdir -p target/guests/js
	@if [ ! target/guests/js/js_security_headers.wasm -nt sample-hooks/js-security-headers/index.js ] \
	  || [ ! target/guests/js/js_security_headers.wasm -nt hooks-js/edge-hooks.js ] \
	  || [ ! target/guests/js/js_security_headers.wasm -nt hooks-sdk/wit/hooks.wit ]; then \
	  node hooks-js/build.mjs sample-hooks/js-security-headers/index.js target/guests/js/js_security_headers.wasm; fi

## make run: build (release) and start the proxy on conf/edge.toml with the sample hooks.
run: hooks
	$(CARGO) build --locked --release -p edge-proxy
	./target/release/edge-proxy run --conf $(CONF)

# The debug build of every test and of target/debug/edge-proxy (which the end-to-end tests run),
# all with the workspace's test-time features. `cargo build -p edge-proxy` would resolve other
# features for shared dependencies (criterion's and the tests' dev-dependencies drop out) and
# build Pingora and wasmtime a second time.
TEST_BUILD = $(CARGO) test --locked --workspace --no-run

## make test: every test — unit tests and the end-to-end suite over real sockets.
test: hooks
	$(TEST_BUILD)
	$(CARGO) test --locked --workspace

## make check: validate every configuration file in conf/.
check: hooks
	$(TEST_BUILD)
	@for f in conf/*.toml; do ./target/debug/edge-proxy check --conf $$f || exit 1; done

## make lint: formatting and clippy with warnings as errors (CI runs it after the tests).
lint: hooks
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## make bench: the load benchmark (benches/load.sh): edge-proxy beside nginx, nginx + njs,
## HAProxy, HAProxy + Lua, nginx proxy_cache and a bare Pingora forwarder; then noisy
## neighbours (benches/noisy.sh): healthy traffic beside spinning hooks and memory bombs; then
## event invocation (benches/events.sh): 202s per second and backlog drain on each queue store.
## Results in target/bench/; see benches/README.md. Criterion micro-benchmarks: cargo bench -p edge-benches.
bench: bench-builds
	./benches/load.sh
	./benches/noisy.sh
	./benches/events.sh

## make bench-instructions: instructions per request under callgrind (benches/instructions.sh),
## the figure that stays put on a noisy machine.
bench-instructions: bench-builds
	./benches/instructions.sh

## make bench-invocations: instructions per warm hook invocation under callgrind
## (benches/invocations.sh), criterion's warm cases as counts.
bench-invocations: bench-guests
	./benches/invocations.sh

## make soak: wrk for 5 minutes while the config is reloaded every 2 s between two hook
## versions (benches/soak.sh): no failed request, every reload applied, RSS growth under 10 %.
soak: bench-builds
	./benches/soak.sh

bench-builds: bench-guests
	$(CARGO) build --locked --release -p edge-proxy
	$(CARGO) build --locked --release -p edge-benches --bin bare-forwarder

bench-guests: setup
	./scripts/setup.sh --bench
	$(CARGO) build --locked --profile guest --target wasm32-wasip2 --target-dir target/guests -p fixture-noop -p fixture-header-work -p fixture-empty-export -p fixture-spin -p fixture-memory-bomb -p collect

## make pgo: edge-proxy and bare-forwarder built with profile-guided optimization, trained on
## load.sh's configurations (benches/pgo.sh), into target/pgo/release/. Not what `make run`
## builds: two full builds and a training run, ~an hour on a 2-core machine.
pgo: bench-guests
	./scripts/setup.sh --pgo
	./benches/pgo.sh

## make fuzz: each cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 60) on the nightly
## toolchain; `make test` replays their seeds, corpora and crash artifacts. See docs/security.md.
FUZZ_SECONDS ?= 60
fuzz: setup
	./scripts/setup.sh --fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/run.sh
