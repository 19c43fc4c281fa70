# A real redis-server for the Redis-backed limits and cache tests (tests/redis_server.py starts it on a
# free port). Installed from the Debian package when missing; CI machines run as root.
.PHONY: redis-server

redis-server:  ## install redis-server (Debian package) when it is missing
	@command -v redis-server >/dev/null || test -x /usr/bin/redis-server \
	  || (apt-get update && apt-get install -y redis-server)

# `test` is declared after the mk/ includes, so hang the prerequisite on `pytest` itself: the Redis
# tests run inside it and must find the binary installed first.
pytest: redis-server
