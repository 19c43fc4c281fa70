# Benchmarks (bench/README.md). Never part of `make test`: they take minutes and need a quiet machine.
# ghz and hey come from `go install` (pinned) into $(GOBIN), the upstream from `go build`; LiteLLM
# (uv.lock's `litellm` group) goes into its own venv, never into .venv.
HEY_VERSION     := v0.1.5
LITELLM_VENV    := bench/.venv-litellm

.PHONY: bench bench-quick bench-compare bench-tools

$(GOBIN)/ghz:
	go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

$(GOBIN)/hey:
	go install github.com/rakyll/hey@$(HEY_VERSION)

# The benchmark's upstream (bench/upstream.py): Go's standard library only, so nothing to download.
$(GOBIN)/static-upstream: bench/static_upstream/main.go bench/static_upstream/go.mod
	cd bench/static_upstream && go build -o $(GOBIN)/static-upstream .

# The stream-capacity load client (bench/stream_capacity): the generated Go client by `replace`,
# its other modules from the Go module proxy by its go.sum.
$(GOBIN)/stream-capacity: bench/stream_capacity/main.go bench/stream_capacity/go.mod bench/stream_capacity/go.sum $(wildcard clients/go/llmgateway/v1/*.go)
	cd bench/stream_capacity && go build -o $(GOBIN)/stream-capacity .

bench-tools: install $(GOBIN)/ghz $(GOBIN)/hey $(GOBIN)/static-upstream $(GOBIN)/stream-capacity

bench: bench-tools  ## full benchmark (~25 min, a 10-minute soak): writes bench/RESULTS.md and bench/results.json
	GOBIN=$(GOBIN) $(PY) -m bench.run

bench-quick: bench-tools  ## short benchmark (~5 min) to try the harness: writes bench/out/
	GOBIN=$(GOBIN) $(PY) -m bench.run --quick

$(LITELLM_VENV)/.installed: $(LOCK_INPUTS) | $(UV)
	$(call uv_sync,$(LITELLM_VENV)) --only-group litellm
	touch $@

bench-compare: bench-tools $(LITELLM_VENV)/.installed  ## LiteLLM's proxy on the same upstream and load, merged into bench/RESULTS.md
	GOBIN=$(GOBIN) $(PY) -m bench.run --litellm

# valgrind from Debian, as mk/redis.mk installs redis-server.
.PHONY: bench-instructions
bench-instructions: bench-tools  ## instructions per call under valgrind (~8 min), merged into bench/RESULTS.md
	command -v valgrind >/dev/null \
	  || (apt-get update && apt-get install -y valgrind)
	GOBIN=$(GOBIN) $(PY) -m bench.run --instructions

.PHONY: bench-profile bench-step
PROFILE_ARGS ?= --target gateway-on

# uv.lock's `bench` group beside the venv's python: py-spy (where bench/profile.py looks for it) and
# grpclib (bench/paced_floor.py). py-spy's file stands for the group; `make install` removes both.
BENCH_GROUP := $(VENV)/bin/py-spy
$(BENCH_GROUP): $(VENV)/.installed
	$(call uv_sync,$(VENV)) --group bench --inexact

bench-profile: bench-tools $(BENCH_GROUP)  ## py-spy flame graph under load into bench/profiles/ (PROFILE_ARGS="--method ChatStream --label x")
	GOBIN=$(GOBIN) $(PY) -m bench.profile $(PROFILE_ARGS)

bench-step: bench-tools  ## measure this tree for the optimisation table: make bench-step LABEL="what changed"
	GOBIN=$(GOBIN) $(PY) -m bench.step --label "$(LABEL)"

.PHONY: bench-bodies
bench-bodies: install  ## probe latency while 20 calls at once get 60 MiB upstream bodies, plain then gzip (~30 s): bench/out/big-bodies-*.json
	$(PY) -m bench.big_bodies
	$(PY) -m bench.big_bodies --gzip

.PHONY: bench-streams bench-streams-quick
bench-streams: bench-tools $(BENCH_GROUP) $(LITELLM_VENV)/.installed  ## streams held per core (~35 min): gateway gRPC and HTTP door, forwarder, SSE passthrough, LiteLLM, the server stacks alone into bench/STREAMS.md
	GOBIN=$(GOBIN) $(PY) -m bench.stream_capacity --write

bench-streams-quick: bench-tools  ## a short stream-capacity run (~3 min, no LiteLLM) into bench/STREAMS.md
	GOBIN=$(GOBIN) $(PY) -m bench.stream_capacity --quick --only gateway forwarder --write

.PHONY: bench-token-instructions
TOKEN_ARGS ?=
bench-token-instructions: bench-tools  ## instructions per relayed token under valgrind (~6 min): LABEL="what changed" appends a row to bench/token_steps.json
	command -v valgrind >/dev/null \
	  || (apt-get update && apt-get install -y valgrind)
	GOBIN=$(GOBIN) $(PY) -m bench.token_instructions $(if $(LABEL),--label "$(LABEL)") $(TOKEN_ARGS)

.PHONY: bench-ledger
bench-ledger: bench-tools  ## the spend ledger on vs off, its SQLite file prefilled: calls/s, CPU per call, p99 at concurrency 1 (~4 min), merged into bench/RESULTS.md
	GOBIN=$(GOBIN) $(PY) -m bench.ledger_cost --write

.PHONY: bench-design
bench-design: bench-tools  ## the design's own table (overhead, req/s per core, pool reuse, breaker, memory; ~2 min), merged into bench/RESULTS.md
	GOBIN=$(GOBIN) $(PY) -m bench.run --design
