# Benchmarks (bench/README.md). Never part of `make test`: they take minutes and need a quiet machine.
# ghz and hey come from `go install` into $(GOBIN), the upstream from `go build`; LiteLLM goes into its own venv, never into .venv.
HEY_VERSION     := latest
LITELLM_VENV    := bench/.venv-litellm
LITELLM_SPEC    ?= litellm[proxy]

.PHONY: bench bench-quick bench-compare bench-tools

$(GOBIN)/ghz:
	go install github.com/bojand/ghz/cmd/ghz@latest

$(GOBIN)/hey:
	go install github.com/rakyll/hey@$(HEY_VERSION)

# The benchmark's upstream (bench/upstream.py): Go's standard library only, so nothing to download.
$(GOBIN)/static-upstream: bench/static_upstream/main.go bench/static_upstream/go.mod
	cd bench/static_upstream && go build -o $(GOBIN)/static-upstream .

bench-tools: install $(GOBIN)/ghz $(GOBIN)/hey $(GOBIN)/static-upstream

bench: bench-tools  ## full benchmark (~20 min, a 10-minute soak): writes bench/RESULTS.md and bench/results.json
	GOBIN=$(GOBIN) $(PY) -m bench.run

bench-quick: bench-tools  ## short benchmark (~3 min) to try the harness: writes bench/out/
	GOBIN=$(GOBIN) $(PY) -m bench.run --quick

$(LITELLM_VENV)/.installed:
	python3 -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/pip install --quiet '$(LITELLM_SPEC)'
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

$(VENV)/bin/py-spy: | $(VENV)/.installed
	$(PIP) install --quiet py-spy

bench-profile: bench-tools $(VENV)/bin/py-spy  ## py-spy flame graph under load into bench/profiles/ (PROFILE_ARGS="--method ChatStream --label x")
	GOBIN=$(GOBIN) $(PY) -m bench.profile $(PROFILE_ARGS)

bench-step: bench-tools  ## measure this tree for the optimisation table: make bench-step LABEL="what changed"
	GOBIN=$(GOBIN) $(PY) -m bench.step --label "$(LABEL)"
