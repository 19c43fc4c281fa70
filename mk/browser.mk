# A real browser for the status page's test (tests/test_status_page.py): Debian's chromium,
# driven by Playwright for Python over CDP. Playwright's own browser downloads are never used
# (nothing can be downloaded at run time); the package is installed once per machine.
.PHONY: chromium

chromium:  ## install Chromium (Debian package) when it is missing
	@test -x /usr/bin/chromium \
	  || (apt-get update && apt-get install -y --no-install-recommends chromium)

# Like postgresql and redis-server: the browser test runs inside `pytest`.
pytest: chromium
