#!/usr/bin/env bash
# Every client's test suite, one after the other, then each client installed from its artifact,
# against the gateway the harness started (LLMGATEWAY_TEST_ADDR). Runs them all, then fails if any
# failed. PYTHON names the interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
suite() {
  local name=$1
  shift
  echo "== client suite: $name"
  local started=$SECONDS
  if "$@"; then
    printf '\n== %s: ok (%s s)\n' "$name" "$((SECONDS - started))"
  else
    failed+=("$name")
    printf '\n== %s: FAILED\n' "$name"
  fi
}
suite python "${PYTHON:-python3}" -m pytest -p no:cacheprovider -q python/tests
suite go bash -c 'cd go && go vet ./... && go test -count=1 ./...'
suite typescript bash -c 'cd typescript && npm test --silent'
suite java mvn -B -ntp -Dstyle.color=never -f java/pom.xml test
if command -v cargo >/dev/null; then
  suite rust cargo test --locked --manifest-path rust/Cargo.toml -p llmgateway-client -- --nocapture
else
  echo "== client suite: rust skipped (cargo is not installed)"
fi
# Last, as a user outside the repository would: each client's artifact installed in a scratch
# project with its README's command, and the README's example run as written (test_install.py).
# It reuses what the suites above built (the cargo target dir, Maven's and npm's caches).
suite install "${PYTHON:-python3}" -m pytest -p no:cacheprovider -q testdata/test_install.py
if ((${#failed[@]})); then
  echo "client suites failed: ${failed[*]}"
  exit 1
fi
echo "client suites: all passed"
