# The generated clients (Go, TypeScript, Java and, where cargo is, Rust; Python is the Makefile's
# `gen`), their cross-language suite against a real gateway, and the deploy/ checks.
# Every tool is local and pinned: buf runs the plugins below, nothing comes from a remote registry.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
# protoc (for its built-in Java generator) and protoc-gen-grpc-java come from Maven Central and must
# match the runtime versions in clients/java/pom.xml.
PROTOC_VERSION             := 4.33.5
GRPC_JAVA_VERSION          := 1.83.0
MAVEN_DEP_PLUGIN           := org.apache.maven.plugins:maven-dependency-plugin:3.8.1
TOOLS_BIN                  := $(TOOLS)/bin
TS_DIR                     := clients/typescript
# Rust (tonic) is built where cargo is; its build cache lives outside the clone so CI reuses it.
CARGO     := $(shell command -v cargo 2>/dev/null)
RUST_DIR  := clients/rust
export CARGO_TARGET_DIR ?= $(HOME)/.cache/llmgateway/cargo-target
# Everything generated or copied by gen-clients, which check-gen-clients compares with git.
CLIENT_GEN_PATHS := clients/go/llmgateway clients/go/service_config.json \
  clients/java/src/main/java/io/llmgateway/v1 clients/java/src/main/java/io/llmgateway/admin \
  clients/java/src/main/resources \
  $(TS_DIR)/gen clients/python/src/llmgateway/client/service_config.json \
  $(RUST_DIR)/src/gen $(RUST_DIR)/src/service_config.json

.PHONY: client-version tools-clients gen-clients check-gen-clients test-clients check-python-client envoy-descriptor check-deploy check-envoy

GO_PLUGINS := $(TOOLS)/.go-plugins-$(PROTOC_GEN_GO_VERSION)-$(PROTOC_GEN_GO_GRPC_VERSION)
$(GO_PLUGINS):
	go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	mkdir -p $(TOOLS) && touch $@

$(TOOLS_BIN)/protoc-$(PROTOC_VERSION):
	mkdir -p $(TOOLS_BIN)
	mvn -q -B $(MAVEN_DEP_PLUGIN):copy -Dartifact=com.google.protobuf:protoc:$(PROTOC_VERSION):exe:linux-x86_64 \
	  -DoutputDirectory=$(abspath $(TOOLS_BIN)) -Dmdep.stripVersion=true -Dmdep.stripClassifier=true
	mv $(TOOLS_BIN)/protoc.exe $@ && chmod +x $@ && ln -sf protoc-$(PROTOC_VERSION) $(TOOLS_BIN)/protoc

$(TOOLS_BIN)/protoc-gen-grpc-java-$(GRPC_JAVA_VERSION):
	mkdir -p $(TOOLS_BIN)
	mvn -q -B $(MAVEN_DEP_PLUGIN):copy -Dartifact=io.grpc:protoc-gen-grpc-java:$(GRPC_JAVA_VERSION):exe:linux-x86_64 \
	  -DoutputDirectory=$(abspath $(TOOLS_BIN)) -Dmdep.stripVersion=true -Dmdep.stripClassifier=true
	mv $(TOOLS_BIN)/protoc-gen-grpc-java.exe $@ && chmod +x $@ && ln -sf protoc-gen-grpc-java-$(GRPC_JAVA_VERSION) $(TOOLS_BIN)/protoc-gen-grpc-java

$(TS_DIR)/node_modules/.installed: $(TS_DIR)/package.json $(TS_DIR)/package-lock.json
	cd $(TS_DIR) && npm ci --no-audit --no-fund --silent
	touch $@

CLIENT_TOOLS := $(BUF) $(GO_PLUGINS) $(TOOLS_BIN)/protoc-$(PROTOC_VERSION) \
  $(TOOLS_BIN)/protoc-gen-grpc-java-$(GRPC_JAVA_VERSION) $(TS_DIR)/node_modules/.installed
tools-clients: $(CLIENT_TOOLS)  ## the clients' code generators (go install, Maven Central, npm)

gen-clients: tools-clients  ## regenerate the Go, TypeScript, Java (and Rust) stubs from proto/ with buf
	rm -rf clients/go/llmgateway/v1 clients/go/llmgateway/admin clients/java/src/main/java/io/llmgateway/v1 \
	  clients/java/src/main/java/io/llmgateway/admin $(TS_DIR)/gen
	PATH="$(GOBIN):$$PATH" $(BUF) generate
	$(BUF) generate --template $(TS_DIR)/buf.gen.yaml
	@# One retry service config for every client, kept in clients/testdata/service_config.json.
	cp clients/testdata/service_config.json clients/go/service_config.json
	cp clients/testdata/service_config.json clients/python/src/llmgateway/client/service_config.json
	mkdir -p clients/java/src/main/resources/io/llmgateway/client
	cp clients/testdata/service_config.json clients/java/src/main/resources/io/llmgateway/client/service_config.json
ifneq ($(CARGO),)
	@# Rust: buf builds the descriptor set, a small tonic-prost-build program writes the module.
	$(BUF) build -o $(TOOLS)/llmgateway.binpb --path proto/llmgateway
	rm -rf $(RUST_DIR)/src/gen && mkdir -p $(RUST_DIR)/src/gen
	cargo run -q --locked --manifest-path $(RUST_DIR)/Cargo.toml -p llmgateway-codegen -- $(TOOLS)/llmgateway.binpb $(RUST_DIR)/src/gen
	cp clients/testdata/service_config.json $(RUST_DIR)/src/service_config.json
else
	@echo "cargo not found: the Rust client was not regenerated"
endif

gen: gen-clients

check-gen-clients: gen-clients  ## fail when the committed client stubs are stale
	@stale=$$(git status --porcelain --untracked-files=all -- $(CLIENT_GEN_PATHS)); \
	if [ -n "$$stale" ]; then echo "$$stale"; echo "generated client code is stale: run 'make gen' and commit"; exit 1; fi; \
	echo "generated clients: up to date"

test-clients: install tools-clients  ## every client's suite against a real gateway and simulators
	PYTHON=$(abspath $(PY)) $(PY) clients/testdata/harness.py -- bash clients/testdata/run-suites.sh

# One version for every client: edit clients/VERSION, then this writes it into each package's
# metadata, lock and README (clients/release/versions.py; tests/test_client_versions.py fails while
# any place disagrees) and lets uv record it in uv.lock. docs/releasing.md has the rest.
client-version: | $(UV)  ## stamp clients/VERSION into every client package (then commit, tag: docs/releasing.md)
	python3 clients/release/versions.py --stamp
	$(UV) lock --quiet
	python3 clients/release/versions.py

# The Python client alone in a fresh venv, from the lock, built as a wheel (not editable): it must
# install and import without the server.
PYCLIENT_VENV := $(TOOLS)/pyclient-venv
check-python-client: | $(UV)  ## install clients/python alone in a fresh venv and import the helper
	rm -rf $(PYCLIENT_VENV)
	$(call uv_sync,$(PYCLIENT_VENV)) --package llmgateway-client --no-dev --no-editable
	cd $(TOOLS) && pyclient-venv/bin/python -c "import importlib.util, llmgateway.client as c; \
	  assert importlib.util.find_spec('llmgateway.app') is None, 'the server came along'; \
	  print('python client: installs and imports alone; retry attempts', \
	        c.RETRY_SERVICE_CONFIG['methodConfig'][0]['retryPolicy']['maxAttempts'])"

# deploy/: the descriptor set Envoy's grpc_json_transcoder reads (with the googleapis imports).
envoy-descriptor: $(BUF)  ## deploy/envoy/llmgateway.pb for Envoy's JSON transcoding (buf build -o)
	$(BUF) build -o deploy/envoy/llmgateway.pb --path proto/llmgateway

check-deploy: install envoy-descriptor  ## helm lint + template; every manifest against the API schemas; probes, grace, configs
	$(PY) deploy/check.py --helm $(HELM) deploy/envoy/llmgateway.pb

check-envoy:  ## validate deploy/envoy/envoy.yaml against Envoy's API (go-control-plane; ~1 min cold)
	cd deploy/envoy/validate && go run . ../envoy.yaml

EXTRA_TEST_TARGETS += check-gen-clients test-clients check-python-client check-deploy
