# llmgateway — every developer and CI task. `make run` and `make test` install what they need.
SHELL := /bin/bash
# A recipe that fails leaves no half-made target (a stamp, an installed tool) behind.
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
TOOLS     := .tools
PY_OUT    := clients/python/src
PROTOS    := $(wildcard proto/llmgateway/v1/*.proto proto/llmgateway/admin/v1/*.proto)
CONFIG    ?=
GOBIN     ?= $(shell go env GOPATH 2>/dev/null)/bin

# Python: every package comes from uv.lock, its hashes checked (`uv sync --locked` also fails when a
# pyproject.toml and the lock disagree). pip installs only uv itself, by hash, from
# toolchain/uv-requirements.txt, so Python 3.11+ is all `make run` needs.
UV        := $(TOOLS)/uv/bin/uv
export UV_PYTHON_DOWNLOADS := never
LOCK_INPUTS := uv.lock pyproject.toml clients/python/pyproject.toml
# $(call uv_sync,<venv>) <options>: install the locked packages into that venv.
uv_sync    = UV_PROJECT_ENVIRONMENT=$(abspath $(1)) $(UV) sync --locked --quiet
# buf (proto lint, format, breaking, and the clients' generators) from npm, by toolchain/buf's lock.
BUF       := $(TOOLS)/buf/node_modules/.bin/buf

.PHONY: config-reference protoset pii-score bench-redaction help pin-uv install install-run run test gen check-gen upgrade-gen lock upgrade lint typecheck proto-lint breaking breaking-history pytest tools tools-grpcurl clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(UV): toolchain/uv-requirements.txt
	rm -rf $(TOOLS)/uv && python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet --require-hashes --no-deps -r $<

# Move uv to another release: make pin-uv UV_VERSION=x.y.z, then commit toolchain/uv-requirements.txt
# (every wheel of that release is hashed, so any platform installs it).
pin-uv: | $(UV)  ## re-pin uv by hash: make pin-uv UV_VERSION=x.y.z
	@test -n '$(UV_VERSION)' || { echo "usage: make pin-uv UV_VERSION=x.y.z"; exit 1; }
	printf 'uv==$(UV_VERSION)\n' > $(TOOLS)/uv.in
	{ echo "# uv itself, installed by pip with --require-hashes (the Makefile's \$$(UV)); make pin-uv re-pins it."; \
	  $(UV) pip compile --quiet --generate-hashes --universal --no-header $(TOOLS)/uv.in; } > toolchain/uv-requirements.txt

# make run: the gateway and its runtime dependencies, at exactly their locked versions. --inexact
# leaves in place the dev tools a `make test` added, so the two can share the venv.
$(VENV)/.installed-run: $(LOCK_INPUTS) | $(UV)
	$(call uv_sync,$(VENV)) --no-dev --inexact
	touch $@

# make test and the dev targets: the runtime plus the `dev` group, nothing else (exact).
$(VENV)/.installed: $(LOCK_INPUTS) | $(UV)
	$(call uv_sync,$(VENV))
	touch $@ $(VENV)/.installed-run

$(BUF): toolchain/buf/package.json toolchain/buf/package-lock.json
	mkdir -p $(TOOLS)/buf && cp $^ $(TOOLS)/buf/
	cd $(TOOLS)/buf && npm ci --no-audit --no-fund --silent
	touch $@

install-run: $(VENV)/.installed-run  ## .venv with the gateway only (what make run needs)

install: $(VENV)/.installed $(BUF)  ## .venv with the gateway, the client and the dev tools from uv.lock; buf in .tools/

lock: | $(UV)  ## re-resolve uv.lock after a pyproject.toml changed (every other pin stays where it is)
	$(UV) lock

upgrade: | $(UV)  ## re-resolve uv.lock to the newest allowed versions (then: make gen, make test, commit)
	$(UV) lock --upgrade

run: install-run  ## start the gateway (built-in default config unless CONFIG=file.yaml)
	$(VENV)/bin/llmgateway serve $(if $(CONFIG),--config $(CONFIG))

gen: install  ## regenerate the Python stubs from proto/
	rm -f $(PY_OUT)/llmgateway/v1/*_pb2*.py $(PY_OUT)/llmgateway/v1/*_pb2*.pyi
	rm -f $(PY_OUT)/llmgateway/admin/v1/*_pb2*.py $(PY_OUT)/llmgateway/admin/v1/*_pb2*.pyi
	$(PY) -m grpc_tools.protoc -I proto -I third_party \
	  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
	  --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	  --python_out=$(PY_OUT) --grpc_python_out=$(PY_OUT) \
	  --mypy_out=$(PY_OUT) --mypy_grpc_out=$(PY_OUT) \
	  $(PROTOS)

# The Python stubs are made by grpcio-tools at its locked version, so check-gen compares like with
# like. Bump the generator and regenerate in one step with `make upgrade-gen`, then raise the
# grpcio and protobuf lower bounds in clients/python/pyproject.toml and pyproject.toml to the
# versions the new stubs name (tests/test_generated_versions.py fails until they match) and commit.
upgrade-gen: | $(UV)  ## move grpcio-tools (and grpcio, protobuf, mypy-protobuf) to their newest versions and regenerate
	$(UV) lock --upgrade-package grpcio-tools --upgrade-package grpcio --upgrade-package protobuf \
	  --upgrade-package mypy-protobuf
	$(MAKE) gen

check-gen: gen  ## fail when the committed generated code is stale
	@git add -N $(PY_OUT) && git diff --exit-code --stat -- $(PY_OUT) \
	  || { echo "generated code is stale: run 'make gen' and commit"; exit 1; }

proto-lint: $(BUF)  ## buf lint and buf format
	$(BUF) lint
	$(BUF) format -d --exit-code

breaking: $(BUF)  ## buf breaking against AGAINST (default: the main branch)
	$(BUF) breaking --against '$(or $(AGAINST),.git#branch=main)'

lint: install  ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install  ## mypy, strict on the server package
	$(VENV)/bin/mypy

# The suite in two parts: most tests spread over the cores (pytest-xdist, a process each), then
# alone the few marked `serial`, which judge memory or hold a machine-wide load (the 1,000-stream
# cancellation test, the soak), so the suite's own parallel load cannot move their figures.
# Exit status 5 is "nothing selected" (a PYTEST_ARGS that picks no test of one part).
PYTEST_WORKERS ?= auto
pytest: install
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(VENV)/bin/pytest -p no:xdist -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# Files in mk/ add their own targets and append to EXTRA_TEST_TARGETS (e.g. the generated clients).
EXTRA_TEST_TARGETS :=
-include $(wildcard mk/*.mk)

test: install proto-lint check-gen lint typecheck pytest $(EXTRA_TEST_TARGETS)  ## install and run every check and the whole suite

# Go tools at fixed versions: go install verifies each module against its go.sum and the checksum database.
GRPCURL_VERSION := v1.9.4
GHZ_VERSION     := v0.93.0

pii-score: install  ## score redaction on the generated Faker corpus; write the table into docs/redaction.md
	$(PY) -m bench.pii.score --write

bench-redaction: install  ## redaction CPU per KB and per streamed token, on/off/pre-issue-24; into docs/redaction.md
	$(PY) -m bench.redaction_cost --write

.PHONY: bench-redaction-instructions
bench-redaction-instructions: install  ## the same, counted in instructions under valgrind (load-independent); into docs/redaction.md
	$(PY) -m bench.redaction_instructions --write

tools: tools-grpcurl  ## grpcurl and ghz (go install, pinned) into $(GOBIN)
	go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

tools-grpcurl:
	go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

# CI: the contract must stay compatible (buf FILE rules) with every earlier version on main.
breaking-history: $(BUF)
	@revs=$$(git log --format=%H -n 20 HEAD~1 -- proto 2>/dev/null || true); \
	if [ -z "$$revs" ]; then echo "buf breaking: no earlier commit has proto/"; exit 0; fi; \
	for rev in $$revs; do $(BUF) breaking --against ".git#ref=$$rev" || { echo "breaks $$rev"; exit 1; }; done; \
	echo "buf breaking: compatible with $$(echo $$revs | wc -w) earlier version(s) of proto/"

config-reference: install-run  ## docs/configuration.md and docs/config.schema.json from the config schema
	$(PY) -m llmgateway.config.reference

# ghz and other tools that cannot use reflection (or parse proto3 `optional` in .proto files) read
# a compiled descriptor set, imports included.
protoset: $(BUF)  ## llmgateway.protoset: the v1 descriptor set for ghz --protoset and friends
	$(BUF) build -o llmgateway.protoset

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
