# Reliability and security (tests/reliability): the long soak, and pip-audit over the resolved
# dependencies. The 60-second soak, the fault matrix, the 1,000-stream cancellation test, the fuzzing
# and the abuse tests run inside `pytest` with everything else.
.PHONY: soak audit

SOAK_SECONDS ?= 600
SOAK_REPORT  ?= $(TOOLS)/soak-report.txt

soak: install redis-server  ## the 10-minute soak (SOAK_SECONDS): 2 workers, Redis limits, 5% faults; report in SOAK_REPORT
	LLMGW_SOAK_SECONDS=$(SOAK_SECONDS) LLMGW_SOAK_REPORT=$(abspath $(SOAK_REPORT)) \
	  $(VENV)/bin/pytest tests/reliability/test_soak.py -s -p no:cacheprovider
	@cat $(SOAK_REPORT)

# make audit: pip-audit over every package uv.lock pins (all groups, exported with their hashes), from
# its own venv (uv.lock's `audit` group). It needs an advisory service: OSV by default, or PyPI's
# per-version JSON API with AUDIT_SERVICE=pypi. Neither answers on the machines this project is
# built on (api.osv.dev does not resolve; pypi.org/pypi/<name>/<version>/json is 404), so the
# target is not part of `make test` or CI; and it fails, rather than passing, when any pin could
# not be audited.
AUDIT_VENV    := $(TOOLS)/audit-venv
AUDIT_REQS    := $(TOOLS)/audit-requirements.txt
AUDIT_SERVICE ?= osv

$(AUDIT_VENV)/.installed: $(LOCK_INPUTS) | $(UV)
	$(call uv_sync,$(AUDIT_VENV)) --only-group audit
	touch $@

audit: $(AUDIT_VENV)/.installed  ## pip-audit (OSV, or AUDIT_SERVICE=pypi) over every pin in uv.lock; needs that service
	$(UV) export --locked --quiet --all-groups --no-emit-workspace --format requirements-txt -o $(AUDIT_REQS)
	@set -o pipefail; status=0; \
	$(AUDIT_VENV)/bin/pip-audit --vulnerability-service $(AUDIT_SERVICE) --no-deps --disable-pip --strict \
	  --requirement $(AUDIT_REQS) --progress-spinner off 2>&1 | tee $(TOOLS)/audit.log || status=$$?; \
	total=$$(grep -c '^[A-Za-z0-9]' $(AUDIT_REQS)); skipped=$$(grep -c 'could not be audited' $(TOOLS)/audit.log || true); \
	echo "pip-audit: $$((total - skipped)) of $$total pinned packages audited against $(AUDIT_SERVICE)"; \
	if [ "$$skipped" -gt 0 ]; then echo "audit incomplete: $$skipped pins unknown to $(AUDIT_SERVICE)"; exit 1; fi; \
	exit $$status
