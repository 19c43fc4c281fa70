# A real PostgreSQL for the ledger tests (tests/postgres_server.py runs a throwaway cluster from the
# Debian package's binaries, as its `postgres` user when run as root). Installed when missing; CI
# machines run as root. Only the binaries are used: the package's own cluster may stay stopped.
.PHONY: postgresql

postgresql:  ## install PostgreSQL (Debian package) when it is missing
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || (apt-get update && apt-get install -y --no-install-recommends postgresql)

# Like redis-server: the ledger's PostgreSQL tests run inside `pytest`.
pytest: postgresql
