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

# pip-audit lives in its own venv so it never changes the project's. It audits exactly what the
# project resolved to: the project venv's installed distributions, frozen (the editable project and
# client themselves are not on PyPI, so they are left out). OSV is not reachable here: PyPI's own
# advisory service answers instead.
AUDIT_VENV := $(TOOLS)/audit-venv
AUDIT_REQS := $(TOOLS)/audit-requirements.txt

$(AUDIT_VENV)/.installed:
	python3 -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install --quiet --disable-pip-version-check pip-audit
	touch $@

# A pin that PyPI does not know (a local wheel, a yanked or private build) cannot be audited: the
# target says how many were skipped, and fails on that too with AUDIT_STRICT=1.
AUDIT_STRICT ?= 0
audit: install $(AUDIT_VENV)/.installed  ## pip-audit (PyPI advisories) over the project's resolved dependencies
	$(PIP) freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' > $(AUDIT_REQS)
	@set -o pipefail; status=0; \
	$(AUDIT_VENV)/bin/pip-audit --vulnerability-service pypi --no-deps --disable-pip \
	  --requirement $(AUDIT_REQS) --progress-spinner off 2>&1 | tee $(TOOLS)/audit.log || status=$$?; \
	total=$$(grep -c . $(AUDIT_REQS)); skipped=$$(grep -c 'could not be audited' $(TOOLS)/audit.log || true); \
	echo "pip-audit: $$((total - skipped)) of $$total pinned dependencies audited, $$skipped not found on PyPI"; \
	if [ "$(AUDIT_STRICT)" = 1 ] && [ "$$skipped" -gt 0 ]; then echo "AUDIT_STRICT=1: unaudited pins"; exit 1; fi; \
	exit $$status

EXTRA_TEST_TARGETS += audit
