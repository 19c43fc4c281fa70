# llmgateway — every developer and CI task. `make run` and `make test` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
TOOLS     := .tools
BUF_VERSION := 1.75.0
BUF       := $(TOOLS)/node_modules/.bin/buf
GOBIN     ?= $(shell go env GOPATH 2>/dev/null)/bin
PY_OUT    := clients/python/src
PROTOS    := $(wildcard proto/llmgateway/v1/*.proto)
CONFIG    ?=

.PHONY: help install run test gen check-gen lint typecheck proto-lint breaking breaking-history pytest tools tools-grpcurl clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e 'clients/python[tracing]' -e '.[dev]'
	touch $@

$(BUF):
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --no-save --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

install: $(VENV)/.installed $(BUF)  ## create .venv with the gateway, its dev tools and buf

run: install  ## start the gateway (built-in default config unless CONFIG=file.yaml)
	$(VENV)/bin/llmgateway serve $(if $(CONFIG),--config $(CONFIG))

gen: install  ## regenerate the Python stubs from proto/
	rm -f $(PY_OUT)/llmgateway/v1/*_pb2*.py $(PY_OUT)/llmgateway/v1/*_pb2*.pyi
	$(PY) -m grpc_tools.protoc -I proto -I third_party \
	  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
	  --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	  --python_out=$(PY_OUT) --grpc_python_out=$(PY_OUT) \
	  --mypy_out=$(PY_OUT) --mypy_grpc_out=$(PY_OUT) \
	  $(PROTOS)

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

pytest: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Files in mk/ add their own targets and append to EXTRA_TEST_TARGETS (e.g. the generated clients).
EXTRA_TEST_TARGETS :=
-include $(wildcard mk/*.mk)

test: install proto-lint check-gen lint typecheck pytest $(EXTRA_TEST_TARGETS)  ## install and run every check and the whole suite

tools: tools-grpcurl  ## grpcurl and ghz (go install) into $(GOBIN)
	go install github.com/bojand/ghz/cmd/ghz@latest

tools-grpcurl:
	go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest

# CI: the contract must stay compatible (buf FILE rules) with every earlier version on main.
breaking-history: $(BUF)
	@revs=$$(git log --format=%H -n 20 HEAD~1 -- proto 2>/dev/null || true); \
	if [ -z "$$revs" ]; then echo "buf breaking: no earlier commit has proto/"; exit 0; fi; \
	for rev in $$revs; do $(BUF) breaking --against ".git#ref=$$rev" || { echo "breaks $$rev"; exit 1; }; done; \
	echo "buf breaking: compatible with $$(echo $$revs | wc -w) earlier version(s) of proto/"

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
